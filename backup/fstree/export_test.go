package fstree

// Internals for the tests.
var (
	SplitPath = splitPath
	EncodeDev = encodeDev
	DecodeDev = decodeDev
)
