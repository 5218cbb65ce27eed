package state

// AppendEntry is appendEntry, for the fuzz target's seeds.
var AppendEntry = appendEntry
