package pipeline

// Test seams.
var OrderedMap = orderedMap[int, int]
