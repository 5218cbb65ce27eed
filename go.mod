module github.com/murmur-cloud/murmur

go 1.26

require (
	github.com/klauspost/reedsolomon v1.12.4
	github.com/zeebo/blake3 v0.2.4
	golang.org/x/crypto v0.44.0
	lukechampine.com/blake3 v1.4.1
)

require (
	github.com/klauspost/cpuid/v2 v2.2.8 // indirect
	golang.org/x/sys v0.38.0 // indirect
)
