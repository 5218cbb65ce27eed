package placement_test

import (
	"fmt"

	"github.com/murmur-cloud/murmur/placement"
)

// A node chooses its code from gossip's estimates of the cloud and the
// user's target, and shows the reason in murmur status.
func ExampleChooseCode() {
	c, err := placement.ChooseCode(placement.CodeParams{Peers: 6, Availability: 0.93, Target: 0.999})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c)
	// Output: k=3 m=3: with 6 peers of mean availability 0.93, a stripe is readable with probability 0.99968 ≥ target 0.999 (any 3 of its 6 peers may be away); storage 2x
}

// The caller turns its ratings of the peers (gossip.Reputation's Score:
// Value and Evidence) and what it knows of their domains into Candidates.
func ExampleReliable() {
	cands := []placement.Candidate{
		{ID: "a", Free: -1, Reliability: 0.99, Evidence: 500, Zone: "office", Host: "desk1"},
		{ID: "b", Free: -1, Reliability: 0.98, Evidence: 500, Zone: "office", Host: "desk2"},
		{ID: "c", Free: -1, Reliability: 0.97, Evidence: 300, Zone: "home", Host: "nas"},
		{ID: "d", Free: -1, Reliability: 0.96, Evidence: 300, Zone: "home", Host: "laptop"},
		{ID: "e", Free: 0, Reliability: 0.99, Evidence: 300, Zone: "home", Host: "full"}, // no room
		{ID: "f", Free: -1, Reliability: 0.40, Evidence: 300, Zone: "office", Host: "flaky"},
		{ID: "g", Free: -1, Reliability: 0.99, Evidence: 0, Zone: "home", Host: "new"}, // unseen newcomer
	}
	p, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("slice:", p.Slice(cands))
	got, err := p.Place(cands, []int{100, 100, 100, 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	zones := map[string]int{}
	for _, i := range got {
		zones[cands[i].Zone]++
	}
	fmt.Println("shards per zone:", zones)
	// Output:
	// slice: [0 1 2 3 4]
	// shards per zone: map[home:2 office:2]
}
