package chunk

// gearSeed seeds the SplitMix64 generator that fills the gear table. It is
// the ASCII bytes "murmur" read as a big-endian integer. Changing it changes
// every chunk boundary.
const gearSeed = 0x6d75726d7572

// gear maps each byte value to a pseudo-random 64-bit word for the gear hash.
// It is computed once from gearSeed and never written afterwards.
var gear = makeGear()

// makeGear returns the first 256 outputs of SplitMix64 seeded with gearSeed,
// in order: gear[0] is the first output.
func makeGear() [256]uint64 {
	var g [256]uint64
	state := uint64(gearSeed)
	for i := range g {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		g[i] = z ^ (z >> 31)
	}
	return g
}
