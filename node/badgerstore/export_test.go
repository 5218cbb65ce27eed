package badgerstore

// IDOfSizeKey exposes the size-key parser to the fuzz target.
var IDOfSizeKey = idOfSizeKey
