package chunk

// Gear returns a copy of the gear table.
func Gear() [256]uint64 { return gear }

// CutReference is the boundary rule exactly as the package documentation
// states it, one byte at a time, for checking Params.Cut against.
func CutReference(p Params, b []byte) int {
	n := min(len(b), p.Max)
	if n <= p.Min {
		return n
	}
	k := 0
	for 1<<k < p.Avg {
		k++
	}
	maskS := ^uint64(0) << (64 - (k + 2))
	maskL := ^uint64(0) << (64 - (k - 2))
	var fp uint64
	for i := p.Min; i < n; i++ {
		fp = fp<<1 + gear[b[i]]
		mask := maskL
		if i < p.Avg {
			mask = maskS
		}
		if fp&mask == 0 {
			return i + 1
		}
	}
	return n
}
