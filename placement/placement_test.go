package placement_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/murmur-cloud/murmur/placement"
)

func cands(n int, domain func(i int) string) []placement.Candidate {
	var out []placement.Candidate
	for i := range n {
		out = append(out, placement.Candidate{ID: fmt.Sprint("p", i), Free: -1, Domain: domain(i)})
	}
	return out
}

func TestDistinct(t *testing.T) {
	p := placement.NewRandom(1)
	cs := cands(6, func(int) string { return "" })
	for range 100 {
		got, err := p.Place(cs, []int{1, 1, 1, 1, 1, 1})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, i := range got {
			if seen[i] {
				t.Fatalf("placement %v repeats a peer", got)
			}
			seen[i] = true
		}
	}
	if _, err := p.Place(cs, make([]int, 7)); !errors.Is(err, placement.ErrNotEnoughPeers) {
		t.Fatalf("7 shards on 6 peers: %v", err)
	}
}

func TestRoomAndDomains(t *testing.T) {
	p := placement.NewRandom(2)
	cs := cands(8, func(i int) string { return fmt.Sprint("zone", i%4) })
	cs[0].Free, cs[1].Free = 10, 0 // too small for the shards below
	for range 100 {
		got, err := p.Place(cs, []int{100, 100, 100, 100})
		if err != nil {
			t.Fatal(err)
		}
		zones := map[string]bool{}
		for _, i := range got {
			if i == 0 || i == 1 {
				t.Fatalf("placed on a full peer: %v", got)
			}
			zones[cs[i].Domain] = true
		}
		if len(zones) != 4 {
			t.Fatalf("4 shards over 4 zones landed in %d zones: %v", len(zones), got)
		}
	}
}

func TestSpreadsLoad(t *testing.T) {
	p := placement.NewRandom(3)
	cs := cands(10, func(int) string { return "" })
	count := make([]int, len(cs))
	for range 1000 {
		got, err := p.Place(cs, []int{1, 1, 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range got {
			count[i]++
		}
	}
	for i, c := range count {
		if c < 200 || c > 400 { // fair share is 300
			t.Fatalf("peer %d got %d of 3000 shards: %v", i, c, count)
		}
	}
}

func TestCode(t *testing.T) {
	for n, want := range map[int][2]int{2: {1, 1}, 3: {2, 1}, 4: {3, 1}, 5: {4, 1}, 6: {4, 2}, 20: {4, 2}} {
		k, m, err := placement.Code(n)
		if err != nil || k != want[0] || m != want[1] {
			t.Errorf("Code(%d) = %d+%d, %v; want %d+%d", n, k, m, err, want[0], want[1])
		}
	}
	if _, _, err := placement.Code(1); !errors.Is(err, placement.ErrNotEnoughPeers) {
		t.Errorf("Code(1): %v", err)
	}
}
