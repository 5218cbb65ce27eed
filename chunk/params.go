package chunk

import (
	"errors"
	"fmt"
	"math/bits"
)

// Bounds on Params.
const (
	// MinLimit is the smallest allowed Params.Min.
	MinLimit = 64
	// MaxLimit is the largest allowed Params.Max: 64 MiB.
	MaxLimit = 64 << 20
)

// ErrBadParams reports chunking parameters that Params.Validate rejects.
var ErrBadParams = errors.New("chunk: invalid chunking parameters")

// Params bound chunk sizes, in bytes. Every chunk but the last of a stream is
// at least Min+1 and at most Max bytes long; the last is 1 to Max bytes long.
// Avg is the target size that normalized chunking steers towards; measured
// means run about 10–15% above it. A drive fixes its Params once: chunks cut
// under different Params do not deduplicate against each other.
type Params struct {
	Min, Avg, Max int
}

// DefaultParams returns the Params of a drive that does not choose its own:
// 512 KiB minimum, 1 MiB target, 4 MiB maximum. The minimum at half the
// target halves the bytes the gear hash must roll over (it skips the first
// Min bytes of every chunk) and narrows the spread of chunk sizes, which
// erasure coding pads to the largest of a stripe.
func DefaultParams() Params { return Params{Min: 512 << 10, Avg: 1 << 20, Max: 4 << 20} }

// Validate reports whether p can be used for chunking: Avg must be a power of
// two and MinLimit <= Min < Avg < Max <= MaxLimit. The error wraps
// ErrBadParams.
func (p Params) Validate() error {
	switch {
	case p.Min < MinLimit:
		return fmt.Errorf("%w: Min %d is below %d", ErrBadParams, p.Min, MinLimit)
	case p.Avg <= 0 || p.Avg&(p.Avg-1) != 0:
		return fmt.Errorf("%w: Avg %d is not a power of two", ErrBadParams, p.Avg)
	case p.Min >= p.Avg:
		return fmt.Errorf("%w: Min %d is not below Avg %d", ErrBadParams, p.Min, p.Avg)
	case p.Avg >= p.Max:
		return fmt.Errorf("%w: Avg %d is not below Max %d", ErrBadParams, p.Avg, p.Max)
	case p.Max > MaxLimit:
		return fmt.Errorf("%w: Max %d is above %d", ErrBadParams, p.Max, MaxLimit)
	}
	return nil
}

// String formats p as "min/avg/max" in bytes.
func (p Params) String() string { return fmt.Sprintf("%d/%d/%d", p.Min, p.Avg, p.Max) }

// Cut returns the length of the first chunk of buf, where buf starts at a
// chunk boundary: the first cut point as described in the package
// documentation, or min(len(buf), p.Max) if there is none. A result equal to
// len(buf) is final only if buf runs to the end of the stream or is at least
// p.Max long; otherwise the caller must supply more data and cut again. Cut
// returns 0 only for an empty buf. It panics if p is invalid.
func (p Params) Cut(buf []byte) int {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	c := newCutter(p)
	return c.cut(buf)
}

// cutter holds p with its masks precomputed, for the hot path.
type cutter struct {
	min, avg, max int
	maskS, maskL  uint64
}

// newCutter derives the masks of p, which must be valid. With k = log2(Avg),
// maskS selects the top k+2 bits of the hash and maskL the top k-2
// (normalization level 2).
func newCutter(p Params) cutter {
	k := bits.TrailingZeros(uint(p.Avg))
	return cutter{
		min:   p.Min,
		avg:   p.Avg,
		max:   p.Max,
		maskS: ^uint64(0) << (64 - (k + 2)),
		maskL: ^uint64(0) << (64 - (k - 2)),
	}
}

// cut implements Params.Cut.
func (c *cutter) cut(buf []byte) int {
	n := len(buf)
	if n <= c.min {
		return n
	}
	n = min(n, c.max)
	normal := min(c.avg, n)
	k, fp := scan(buf[c.min:normal], 0, c.maskS)
	if k >= 0 {
		return c.min + k
	}
	k, _ = scan(buf[normal:n], fp, c.maskL)
	if k >= 0 {
		return normal + k
	}
	return n
}

// scan rolls the gear hash fp over s and returns the length of the prefix of
// s that ends with the first byte after which fp&mask == 0, or -1 if there is
// none. It also returns fp after the last byte rolled in.
//
// It takes four bytes per iteration and keeps the loop-carried dependency
// short (the FastCDC 2020 "roll two bytes" idea, taken further): with g0..g3
// the gear values of the next four bytes and fp the hash so far,
//
//	h0 = fp<<1 + g0
//	h1 = fp<<2 + (g0<<1 + g1)
//	h2 = h1<<1 + g2
//	h3 = h1<<2 + (g2<<1 + g3)
//
// are the hashes after each of them, and only h1 and h3 lie on the chain.
func scan(s []byte, fp, mask uint64) (int, uint64) {
	i := 0
	for ; i <= len(s)-4; i += 4 {
		w := (*[4]byte)(s[i : i+4])
		g0, g1, g2, g3 := gear[w[0]], gear[w[1]], gear[w[2]], gear[w[3]]
		h0 := fp<<1 + g0
		h1 := fp<<2 + (g0<<1 + g1)
		h2 := h1<<1 + g2
		fp = h1<<2 + (g2<<1 + g3)
		if h0&mask == 0 {
			return i + 1, h0
		}
		if h1&mask == 0 {
			return i + 2, h1
		}
		if h2&mask == 0 {
			return i + 3, h2
		}
		if fp&mask == 0 {
			return i + 4, fp
		}
	}
	for ; i < len(s); i++ {
		fp = fp<<1 + gear[s[i]]
		if fp&mask == 0 {
			return i + 1, fp
		}
	}
	return -1, fp
}
