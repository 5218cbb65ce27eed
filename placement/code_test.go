package placement_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/placement"
)

func TestCodeStripeAvailability(t *testing.T) {
	for _, c := range []struct {
		k, m int
		p    float64
		want float64
	}{
		{1, 1, 0.5, 0.75},
		{2, 1, 0.9, 0.9*0.9*0.9 + 3*0.9*0.9*0.1},
		{3, 0, 0.9, 0.729},
		{4, 2, 0.93, math.Pow(0.93, 6) + 6*math.Pow(0.93, 5)*0.07 + 15*math.Pow(0.93, 4)*0.07*0.07},
		{1, 2, 0.5, 0.875},
		{10, 5, 1, 1},
		{1, 9, 0.5, 1 - math.Pow(0.5, 10)},
	} {
		if got := placement.StripeAvailability(c.k, c.m, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("StripeAvailability(%d, %d, %v) = %v, want %v", c.k, c.m, c.p, got, c.want)
		}
	}
	// Against a simulation: 200,000 stripes of 4+2 on peers up 80% of the time.
	rng := rand.New(rand.NewPCG(1, 2))
	ok := 0
	const n = 200_000
	for range n {
		up := 0
		for range 6 {
			if rng.Float64() < 0.8 {
				up++
			}
		}
		if up >= 4 {
			ok++
		}
	}
	want := placement.StripeAvailability(4, 2, 0.8)
	if sd := math.Sqrt(want * (1 - want) / n); math.Abs(float64(ok)/n-want) > 4*sd {
		t.Errorf("simulated %v, computed %v", float64(ok)/n, want)
	}
}

func TestChooseCode(t *testing.T) {
	for _, c := range []struct {
		p    placement.CodeParams
		k, m int
		met  bool
	}{
		{placement.CodeParams{Peers: 6, Availability: 0.93}, 3, 3, true},
		{placement.CodeParams{Peers: 3, Availability: 0.99}, 2, 1, true},
		{placement.CodeParams{Peers: 6, Availability: 0.99}, 4, 1, true},
		{placement.CodeParams{Peers: 100, Availability: 0.9}, 15, 7, true},
		{placement.CodeParams{Peers: 100, Availability: 0.9, MaxK: 8}, 8, 5, true},
		{placement.CodeParams{Peers: 100, Availability: 0.9, Target: 0.999999}, 16, 12, true},
		{placement.CodeParams{Peers: 20, Availability: 1}, 16, 1, true},
		{placement.CodeParams{Peers: 20, Availability: 1, MinM: 2}, 16, 2, true},
		// Out of reach: the most readable within 3x storage.
		{placement.CodeParams{Peers: 3, Availability: 0.5}, 1, 2, false},
		{placement.CodeParams{Peers: 2, Availability: 0.9}, 1, 1, false},
		{placement.CodeParams{Peers: 12, Availability: 0.7}, 4, 8, false},
		// Nothing within the overhead bound: the cheapest.
		{placement.CodeParams{Peers: 10, Availability: 0.95, MaxOverhead: 1.1}, 9, 1, false},
	} {
		got, err := placement.ChooseCode(c.p)
		if err != nil || got.K != c.k || got.M != c.m || got.Met != c.met {
			t.Errorf("ChooseCode(%+v) = %d+%d met %v, %v; want %d+%d met %v", c.p, got.K, got.M, got.Met, err, c.k, c.m, c.met)
			continue
		}
		p := got.Params
		if got.Met != (got.Readable >= p.Target) || got.K+got.M > p.Peers || got.K > p.MaxK || got.M < p.MinM {
			t.Errorf("ChooseCode(%+v) = %+v breaks its bounds", c.p, got)
		}
		if math.Abs(got.Readable-placement.StripeAvailability(got.K, got.M, p.Availability)) > 1e-12 || got.Overhead != float64(got.K+got.M)/float64(got.K) {
			t.Errorf("ChooseCode(%+v) = %+v: wrong figures", c.p, got)
		}
	}
	for _, c := range []struct {
		p    placement.CodeParams
		want error
	}{
		{placement.CodeParams{Peers: 1, Availability: 0.9}, placement.ErrNotEnoughPeers},
		{placement.CodeParams{Peers: 2, Availability: 0.9, MinM: 2}, placement.ErrNotEnoughPeers},
		{placement.CodeParams{Peers: 6, Availability: 0}, nil},
		{placement.CodeParams{Peers: 6, Availability: 1.2}, nil},
		{placement.CodeParams{Peers: 6, Availability: math.NaN()}, nil},
		{placement.CodeParams{Peers: 6, Availability: 0.9, Target: 1}, nil},
		{placement.CodeParams{Peers: 6, Availability: 0.9, MaxOverhead: 0.5}, nil},
		{placement.CodeParams{Peers: 6, Availability: 0.9, MaxK: -1}, nil},
	} {
		_, err := placement.ChooseCode(c.p)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("ChooseCode(%+v): %v, want an error matching %v", c.p, err, c.want)
		}
	}
}

// TestChooseCodeMinimal checks, by brute force over many clouds, that no
// code within the bounds meets the target more cheaply than the choice.
func TestChooseCodeMinimal(t *testing.T) {
	for peers := 2; peers <= 40; peers += 3 {
		for _, a := range []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999} {
			for _, target := range []float64{0.9, 0.999, 0.99999} {
				got, err := placement.ChooseCode(placement.CodeParams{Peers: peers, Availability: a, Target: target})
				if err != nil {
					t.Fatal(err)
				}
				for k := 1; k <= 16; k++ {
					for m := 1; k+m <= peers && float64(k+m)/float64(k) <= 3; m++ {
						r := placement.StripeAvailability(k, m, a)
						if !got.Met && r >= target {
							t.Fatalf("%d peers at %v, target %v: unmet, but %d+%d reaches %v", peers, a, target, k, m, r)
						}
						if got.Met && r >= target && float64(k+m)/float64(k) < got.Overhead-1e-9 {
							t.Fatalf("%d peers at %v, target %v: chose %d+%d, but %d+%d is cheaper", peers, a, target, got.K, got.M, k, m)
						}
						if !got.Met && r > got.Readable+1e-12 {
							t.Fatalf("%d peers at %v, target %v: best effort %d+%d (%v), but %d+%d reaches %v", peers, a, target, got.K, got.M, got.Readable, k, m, r)
						}
					}
				}
			}
		}
	}
}

func TestChooseCodeExplains(t *testing.T) {
	for _, c := range []struct {
		p    placement.CodeParams
		want []string
	}{
		{placement.CodeParams{Peers: 6, Availability: 0.93}, []string{
			"k=3 m=3: with 6 peers of mean availability 0.93, a stripe is readable with probability 0.99968 ≥ target 0.999",
			"any 3 of its 6 peers may be away", "storage 2x",
		}},
		{placement.CodeParams{Peers: 3, Availability: 0.99}, []string{"k=2 m=1", "storage 1.5x"}},
		{placement.CodeParams{Peers: 3, Availability: 0.5}, []string{
			"k=1 m=2, best effort: target 0.999 is out of reach with 3 peers of mean availability 0.5 within 3x storage",
			"readable with probability 0.875 at 3x storage", "add peers",
		}},
	} {
		got, err := placement.ChooseCode(c.p)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(got.String(), w) || got.Why != got.String() {
				t.Errorf("ChooseCode(%+v) says %q, want it to say %q", c.p, got, w)
			}
		}
		got.Why = ""
		if s := got.String(); !strings.HasPrefix(s, c.want[0][:7]) {
			t.Errorf("without Why: %q", s)
		}
	}
}

// TestCodeTotalRecall: Total Recall's normal approximation is within a
// shard or so of the exact sum (mostly below it: it misses the binomial's
// skew, which matters most for narrow stripes of available peers); the
// exact sum is what ChooseCode uses.
func TestCodeTotalRecall(t *testing.T) {
	for _, k := range []int{4, 8, 16} {
		for _, mu := range []float64{0.7, 0.9, 0.95} {
			m := 0
			for placement.StripeAvailability(k, m, mu) < 0.999 {
				m++
			}
			exact, approx := float64(k+m), placement.TotalRecallRedundancy(k, mu, 0.999)*float64(k)
			if math.Abs(exact-approx) > 1.5 {
				t.Errorf("k=%d availability %v: exact %v shards, Total Recall %.2f", k, mu, exact, approx)
			}
		}
	}
}
