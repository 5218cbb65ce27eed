package placement_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/placement"
)

func newReliable(t *testing.T, cfg placement.ReliableConfig) *placement.Reliable {
	t.Helper()
	p, err := placement.NewReliable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// vetted returns n candidates of reliability rel with plenty of evidence.
func vetted(n int, rel float64) []placement.Candidate {
	out := make([]placement.Candidate, n)
	for i := range out {
		out[i] = placement.Candidate{ID: fmt.Sprint("v", i), Free: -1, Reliability: rel, Evidence: 100}
	}
	return out
}

// checkStripe fails unless got places every shard on a distinct peer
// with room for it.
func checkStripe(t *testing.T, cs []placement.Candidate, sizes, got []int) {
	t.Helper()
	if len(got) != len(sizes) {
		t.Fatalf("%d holders for %d shards", len(got), len(sizes))
	}
	ids := map[string]bool{}
	for s, i := range got {
		c := cs[i]
		if ids[c.ID] {
			t.Fatalf("placement %v puts two shards on %s", got, c.ID)
		}
		ids[c.ID] = true
		if c.Free >= 0 && c.Free < int64(sizes[s]) {
			t.Fatalf("shard %d of %d bytes on %s with %d free", s, sizes[s], c.ID, c.Free)
		}
	}
}

func TestReliablePlaceDistinctAndRoom(t *testing.T) {
	dup := vetted(6, 0.9)
	for i := range dup {
		dup[i].ID = fmt.Sprint("p", i%3) // each peer listed twice
	}
	full := vetted(8, 0.9)
	full[0].Free, full[1].Free, full[2].Free = 99, 0, 100
	old := make([]placement.Candidate, 6) // what node/cloud.go passes today
	for i := range old {
		old[i] = placement.Candidate{ID: fmt.Sprint("o", i), Free: -1}
	}
	for _, c := range []struct {
		name  string
		cands []placement.Candidate
		sizes []int
		err   error
	}{
		{"six of six", vetted(6, 0.9), []int{1, 1, 1, 1, 1, 1}, nil},
		{"seven of six", vetted(6, 0.9), make([]int, 7), placement.ErrNotEnoughPeers},
		{"no shards", vetted(3, 0.9), nil, nil},
		{"no candidates", nil, []int{1}, placement.ErrNotEnoughPeers},
		{"duplicate IDs count once", dup, []int{1, 1, 1}, nil},
		{"duplicate IDs are not four peers", dup, []int{1, 1, 1, 1}, placement.ErrNotEnoughPeers},
		{"full peers are passed over", full, []int{100, 100, 100, 100, 100, 100}, nil},
		{"too few with room", full, []int{100, 100, 100, 100, 100, 100, 100}, placement.ErrNotEnoughPeers},
		{"nothing known of anyone", old, []int{1, 1, 1, 1, 1, 1}, nil},
	} {
		p := newReliable(t, placement.ReliableConfig{Seed: 1})
		for range 50 {
			got, err := p.Place(c.cands, c.sizes)
			if !errors.Is(err, c.err) {
				t.Fatalf("%s: error %v, want %v", c.name, err, c.err)
			}
			if err == nil {
				checkStripe(t, c.cands, c.sizes, got)
			}
		}
	}
}

func TestReliablePlaceDomains(t *testing.T) {
	// 3 zones × 2 subnets × 2 hosts × 2 nodes.
	var cs []placement.Candidate
	for z := range 3 {
		for s := range 2 {
			for h := range 2 {
				for n := range 2 {
					cs = append(cs, placement.Candidate{
						ID: fmt.Sprint(z, s, h, n), Free: -1, Reliability: 0.9, Evidence: 50,
						Zone: fmt.Sprint("zone", z), Subnet: fmt.Sprintf("10.0.%d.0/24", s), // the same ranges in every zone
						Host: fmt.Sprint("host", s, h),
					})
				}
			}
		}
	}
	byDomain := func(c placement.Candidate) [3]string { return [3]string{c.Zone, c.Zone + c.Subnet, c.Zone + c.Host} }
	for _, c := range []struct {
		shards int
		most   [3]int // most shards of a stripe in one zone, subnet, host
	}{
		{3, [3]int{1, 1, 1}},
		{6, [3]int{2, 1, 1}},
		{12, [3]int{4, 2, 1}},
		{18, [3]int{6, 3, 2}},
	} {
		p := newReliable(t, placement.ReliableConfig{Seed: 2})
		for range 100 {
			sizes := make([]int, c.shards)
			got, err := p.Place(cs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			checkStripe(t, cs, sizes, got)
			var counts [3]map[string]int
			for d := range counts {
				counts[d] = map[string]int{}
			}
			for _, i := range got {
				for d, k := range byDomain(cs[i]) {
					counts[d][k]++
				}
			}
			for d := range counts {
				for k, n := range counts[d] {
					if n > c.most[d] {
						t.Fatalf("%d shards: %d in %q (level %d), want at most %d", c.shards, n, k, d, c.most[d])
					}
				}
			}
		}
	}
	// Domain stands in for an unset zone.
	legacy := vetted(8, 0.9)
	for i := range legacy {
		legacy[i].Domain = fmt.Sprint("d", i%4)
	}
	p := newReliable(t, placement.ReliableConfig{Seed: 3})
	for range 100 {
		got, err := p.Place(legacy, []int{1, 1, 1, 1})
		if err != nil {
			t.Fatal(err)
		}
		zones := map[string]bool{}
		for _, i := range got {
			zones[legacy[i].Domain] = true
		}
		if len(zones) != 4 {
			t.Fatalf("4 shards over 4 domains landed in %d: %v", len(zones), got)
		}
	}
}

func TestReliablePlaceSpreadsLoad(t *testing.T) {
	// 30 near-equal peers in the slice, over 3 zones, and 30 clearly
	// worse ones outside it.
	var cs []placement.Candidate
	for i := range 60 {
		rel := 0.95 - 0.001*float64(i%30)
		if i >= 30 {
			rel = 0.6
		}
		cs = append(cs, placement.Candidate{ID: fmt.Sprint("p", i), Free: -1, Reliability: rel, Evidence: 100, Zone: fmt.Sprint(i % 3)})
	}
	p := newReliable(t, placement.ReliableConfig{Seed: 4})
	count := make([]int, len(cs))
	const stripes, width = 6000, 6
	for range stripes {
		got, err := p.Place(cs, make([]int, width))
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range got {
			count[i]++
		}
	}
	fair := stripes * width / 30
	for i, n := range count {
		if i >= 30 && n != 0 {
			t.Errorf("peer %d, outside the slice, got %d shards", i, n)
		}
		if i < 30 && (n < fair*85/100 || n > fair*115/100) {
			t.Errorf("peer %d got %d shards, fair share %d", i, n, fair)
		}
	}
}

func TestReliableSlice(t *testing.T) {
	type c = placement.Candidate
	for _, tc := range []struct {
		name  string
		cfg   placement.ReliableConfig
		cands []c
		want  []int
	}{
		{"top half", placement.ReliableConfig{}, []c{
			{Reliability: 0.99, Evidence: 50}, {Reliability: 0.5, Evidence: 50}, {Reliability: 0.98, Evidence: 50},
			{Reliability: 0.4, Evidence: 50}, {Reliability: 0.97, Evidence: 50}, {Reliability: 0.9, Evidence: 50},
		}, []int{0, 2, 4}},
		{"near-equals join", placement.ReliableConfig{}, []c{
			{Reliability: 0.9, Evidence: 50}, {Reliability: 0.9, Evidence: 50}, {Reliability: 0.9, Evidence: 50},
			{Reliability: 0.89, Evidence: 50}, {Reliability: 0.86, Evidence: 50}, {Reliability: 0.5, Evidence: 50},
		}, []int{0, 1, 2, 3, 4}},
		{"no epsilon", placement.ReliableConfig{Epsilon: -1}, []c{
			{Reliability: 0.9, Evidence: 50}, {Reliability: 0.9, Evidence: 50}, {Reliability: 0.89, Evidence: 50}, {Reliability: 0.88, Evidence: 50},
		}, []int{0, 1}},
		{"newcomers are not in it", placement.ReliableConfig{}, []c{
			{Reliability: 1, Evidence: 2}, {Reliability: 0.9, Evidence: 50}, {Reliability: 0.8, Evidence: 50},
		}, []int{1}},
		{"unknown ranks last", placement.ReliableConfig{Slice: 0.7}, []c{
			{Reliability: -1, Evidence: 50}, {Reliability: math.NaN(), Evidence: 50}, {Reliability: 0.1, Evidence: 50},
		}, []int{0, 1, 2}},
		{"unknown below a known zero", placement.ReliableConfig{Slice: 0.3}, []c{
			{Reliability: -1, Evidence: 50}, {Reliability: 0, Evidence: 50}, {Reliability: -1, Evidence: 50},
		}, []int{1}},
		{"nobody vetted", placement.ReliableConfig{}, []c{{Reliability: 0.9}, {Reliability: 0.9}}, nil},
		{"no vetting", placement.ReliableConfig{Vetted: -1}, []c{{Reliability: 0.9}, {Reliability: 0.9}}, []int{0, 1}},
		{"all", placement.ReliableConfig{Slice: 1}, []c{
			{Reliability: 0.1, Evidence: 50}, {Reliability: 0.9, Evidence: 50},
		}, []int{0, 1}},
	} {
		if got := newReliable(t, tc.cfg).Slice(tc.cands); !slices.Equal(got, tc.want) {
			t.Errorf("%s: slice %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestReliablePlaceWidens: the slice widens only as far as a stripe needs,
// in rank order.
func TestReliablePlaceWidens(t *testing.T) {
	var cs []placement.Candidate
	for i, rel := range []float64{0.99, 0.99, 0.98, 0.98, 0.8, 0.8, 0.79, 0.5, 0.5, 0.3} {
		cs = append(cs, placement.Candidate{ID: fmt.Sprint("p", i), Free: -1, Reliability: rel, Evidence: 50})
	}
	for _, c := range []struct {
		name   string
		shards int
		free   map[int]int64
		allow  int // the stripe may only use the candidates before this index
	}{
		{"the slice suffices", 4, nil, 4},
		{"one more band", 6, nil, 7},
		{"full peers make room for the next band", 4, map[int]int64{0: 0, 1: 0}, 7},
		{"down to the bottom", 10, nil, 10},
	} {
		cs := slices.Clone(cs)
		for i, f := range c.free {
			cs[i].Free = f
		}
		// The slice is the best 40%: the four at 0.98 and above.
		p := newReliable(t, placement.ReliableConfig{Seed: 5, Slice: 0.4})
		for range 50 {
			sizes := make([]int, c.shards)
			for s := range sizes {
				sizes[s] = 1
			}
			got, err := p.Place(cs, sizes)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			checkStripe(t, cs, sizes, got)
			for _, i := range got {
				if i >= c.allow {
					t.Fatalf("%s: placed on %d (reliability %v): %v", c.name, i, cs[i].Reliability, got)
				}
			}
		}
	}
}

func TestReliablePlaceNewcomers(t *testing.T) {
	const stripes = 2000
	for _, c := range []struct {
		name      string
		newcomers int
		rel       float64 // the newcomers'
		evidence  float64 // the newcomers'
		// A newcomer's share of the shards, as a fraction of a vetted
		// peer's share.
		lo, hi float64
	}{
		{"unseen newcomers wait", 5, 0.99, 0, 0, 0},
		{"half vetted, half a share", 1, 0.95, 4, 0.35, 0.6},
		{"almost vetted, almost a share", 1, 0.95, 7.9, 0.85, 1.1},
		{"five newcomers share one place a stripe", 5, 0.95, 7.9, 0.12, 0.28},
		{"unreliable newcomers wait", 5, 0.5, 7, 0, 0},
		{"vetted", 5, 0.95, 8, 0.9, 1.1},
	} {
		cs := vetted(20, 0.95)
		for i := range c.newcomers {
			cs = append(cs, placement.Candidate{ID: fmt.Sprint("n", i), Free: -1, Reliability: c.rel, Evidence: c.evidence})
		}
		p := newReliable(t, placement.ReliableConfig{Seed: 6})
		count := make([]int, len(cs))
		for range stripes {
			got, err := p.Place(cs, make([]int, 6))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, i := range got {
				count[i]++
				if i >= 20 {
					n++
				}
			}
			if c.evidence < 8 && n > 1 {
				t.Fatalf("%s: %d newcomers in one stripe", c.name, n)
			}
		}
		var old, young float64
		for i, n := range count {
			if i < 20 {
				old += float64(n) / 20
			} else {
				young += float64(n) / float64(c.newcomers)
			}
		}
		if r := young / old; r < c.lo || r > c.hi {
			t.Errorf("%s: a newcomer got %.2f of a vetted peer's share, want [%v, %v]", c.name, r, c.lo, c.hi)
		}
	}
	// A young cloud, where nobody is vetted, still places.
	young := vetted(6, 0.9)
	for i := range young {
		young[i].Evidence = 0
	}
	if got, err := newReliable(t, placement.ReliableConfig{}).Place(young, make([]int, 6)); err != nil {
		t.Fatalf("young cloud: %v, %v", got, err)
	}
}

func TestReliablePlaceReplays(t *testing.T) {
	cs := vetted(20, 0.9)
	run := func(seed uint64) string {
		p := newReliable(t, placement.ReliableConfig{Seed: seed})
		var out []int
		for range 20 {
			got, err := p.Place(cs, make([]int, 6))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got...)
		}
		return fmt.Sprint(out)
	}
	if a, b, c := run(1), run(1), run(2); a != b || a == c {
		t.Fatalf("seed 1 twice: %v and %v; seed 2: %v", a, b, c)
	}
}

func TestReliablePlaceConcurrent(t *testing.T) {
	cs := vetted(12, 0.9)
	p := newReliable(t, placement.ReliableConfig{Seed: 7})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				got, err := p.Place(cs, make([]int, 6))
				if err != nil {
					errs <- err
					return
				}
				if len(got) != 6 {
					errs <- fmt.Errorf("%d holders", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestReliableConfigChecked(t *testing.T) {
	for _, c := range []placement.ReliableConfig{
		{Slice: -0.1}, {Slice: 1.5}, {Slice: math.NaN()}, {Epsilon: 2}, {Vetted: math.NaN()}, {Vetted: math.Inf(1)},
	} {
		if _, err := placement.NewReliable(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	p := newReliable(t, placement.ReliableConfig{Epsilon: -1, MaxNewcomers: -1})
	if c := p.Config(); c.Slice != 0.5 || c.Epsilon != 0 || c.Vetted != 8 || c.MaxNewcomers != 0 {
		t.Fatalf("config %+v", c)
	}
}
