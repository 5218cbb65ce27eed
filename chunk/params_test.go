package chunk_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/chunk"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    chunk.Params
		want string // substring of the error; empty for valid
	}{
		{"default", chunk.DefaultParams(), ""},
		{"small", smallParams, ""},
		{"tiny", tinyParams, ""},
		{"smallest", chunk.Params{Min: 64, Avg: 128, Max: 129}, ""},
		{"largest", chunk.Params{Min: 32<<20 - 1, Avg: 32 << 20, Max: chunk.MaxLimit}, ""},
		{"zero", chunk.Params{}, "Min 0 is below 64"},
		{"min below limit", chunk.Params{Min: 63, Avg: 128, Max: 256}, "Min 63 is below 64"},
		{"negative min", chunk.Params{Min: -1, Avg: 128, Max: 256}, "Min -1 is below 64"},
		{"avg not power of two", chunk.Params{Min: 64, Avg: 1000, Max: 4096}, "Avg 1000 is not a power of two"},
		{"avg zero", chunk.Params{Min: 64, Avg: 0, Max: 4096}, "Avg 0 is not a power of two"},
		{"avg negative", chunk.Params{Min: 64, Avg: -128, Max: 4096}, "Avg -128 is not a power of two"},
		{"min equals avg", chunk.Params{Min: 1024, Avg: 1024, Max: 4096}, "Min 1024 is not below Avg 1024"},
		{"min above avg", chunk.Params{Min: 2048, Avg: 1024, Max: 4096}, "Min 2048 is not below Avg 1024"},
		{"avg equals max", chunk.Params{Min: 64, Avg: 1024, Max: 1024}, "Avg 1024 is not below Max 1024"},
		{"avg above max", chunk.Params{Min: 64, Avg: 1024, Max: 512}, "Avg 1024 is not below Max 512"},
		{"max above limit", chunk.Params{Min: 1 << 20, Avg: 32 << 20, Max: chunk.MaxLimit + 1}, "Max 67108865 is above 67108864"},
		{"avg above limit", chunk.Params{Min: 1 << 20, Avg: 64 << 20, Max: 128 << 20}, "is above 67108864"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate(%v) = %v, want nil", tt.p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%v) = nil, want error containing %q", tt.p, tt.want)
			}
			if !errors.Is(err, chunk.ErrBadParams) {
				t.Errorf("Validate(%v) = %v, does not wrap ErrBadParams", tt.p, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate(%v) = %q, want it to contain %q", tt.p, err, tt.want)
			}
			if _, nerr := chunk.NewChunker(strings.NewReader("x"), tt.p); !errors.Is(nerr, chunk.ErrBadParams) {
				t.Errorf("NewChunker(%v) error = %v, want ErrBadParams", tt.p, nerr)
			}
		})
	}
}

func TestCutEdges(t *testing.T) {
	p := smallParams
	data := randBytes("cut edges", 4*p.Max)
	tests := []struct {
		name string
		n    int
		want func(got int) bool
	}{
		{"empty", 0, func(got int) bool { return got == 0 }},
		{"one byte", 1, func(got int) bool { return got == 1 }},
		{"min", p.Min, func(got int) bool { return got == p.Min }},
		{"min+1", p.Min + 1, func(got int) bool { return got == p.Min+1 }},
		{"max", p.Max, func(got int) bool { return got > p.Min && got <= p.Max }},
		{"above max", 4 * p.Max, func(got int) bool { return got > p.Min && got <= p.Max }},
	}
	for _, tt := range tests {
		if got := p.Cut(data[:tt.n]); !tt.want(got) {
			t.Errorf("%s: Cut of %d bytes = %d", tt.name, tt.n, got)
		}
	}
}

func TestCutPanicsOnBadParams(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, chunk.ErrBadParams) {
			t.Fatalf("Cut with bad Params panicked with %v, want an ErrBadParams error", r)
		}
	}()
	chunk.Params{Min: 10, Avg: 3, Max: 1}.Cut([]byte("hello"))
}

// TestCutMatchesReference checks the four-bytes-per-iteration loop against
// the documented one-byte rule, at every boundary of random data and at
// every length around Min, Avg and Max.
func TestCutMatchesReference(t *testing.T) {
	for _, p := range []chunk.Params{tinyParams, smallParams, {Min: 100, Avg: 128, Max: 131}, {Min: 1000, Avg: 4096, Max: 5003}} {
		data := randBytes("cut reference "+p.String(), 64*p.Max)
		for off := 0; off < len(data); {
			got, want := p.Cut(data[off:]), chunk.CutReference(p, data[off:])
			if got != want {
				t.Fatalf("%v: at offset %d Cut = %d, reference = %d", p, off, got, want)
			}
			off += got
		}
		for _, mid := range []int{p.Min, p.Avg, p.Max} {
			for n := mid - 5; n <= mid+5; n++ {
				for off := range 8 {
					b := data[off : off+n]
					if got, want := p.Cut(b), chunk.CutReference(p, b); got != want {
						t.Fatalf("%v: %d bytes at %d: Cut = %d, reference = %d", p, n, off, got, want)
					}
				}
			}
		}
	}
}

// TestCutLowEntropy cuts runs of one byte value, which make the hash
// constant after 64 bytes: Cut must still match the reference and bounds.
func TestCutLowEntropy(t *testing.T) {
	p := smallParams
	atMax := 0
	for v := range 256 {
		b := make([]byte, 2*p.Max)
		for i := range b {
			b[i] = byte(v)
		}
		got, want := p.Cut(b), chunk.CutReference(p, b)
		if got != want || got <= p.Min || got > p.Max {
			t.Fatalf("run of %#x: Cut = %d, reference = %d", v, got, want)
		}
		if got == p.Max {
			atMax++
		}
	}
	// Most runs never clear the mask, so Cut must stop at Max.
	if atMax < 128 {
		t.Errorf("%d of 256 runs were cut at Max, want most", atMax)
	}
}

// TestGear pins the table to SplitMix64 seeded with 0x6d75726d7572 (see
// doc.go); the values were checked against an independent implementation.
func TestGear(t *testing.T) {
	g := chunk.Gear()
	for _, tt := range []struct {
		i    int
		want uint64
	}{{0, 0xfbe4832fd86f4053}, {1, 0xf6d86dc75dbc1ce0}, {255, 0x303b7255a241b073}} {
		if g[tt.i] != tt.want {
			t.Errorf("gear[%d] = %#016x, want %#016x", tt.i, g[tt.i], tt.want)
		}
	}
	seen := make(map[uint64]bool)
	for i, v := range g {
		if seen[v] {
			t.Fatalf("gear[%d] = %#x repeats", i, v)
		}
		seen[v] = true
	}
}
