package compute_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/compute"
)

// TestSchedSlice: a job starts on the Min peers holding most of its
// waiting chunks; while tasks wait it at most doubles every Grow, onto
// peers whose gossiped free slots say they have room (a peer another job
// fills is left alone); a task that needs a peer no member can be gets
// one at once; idle members leave after Idle, down to Min.
func TestSchedSlice(t *testing.T) {
	const grow, idle = 500 * time.Millisecond, 5 * time.Second
	s := compute.NewScheduler(compute.SchedConfig{Wait: schedWait, Backoff: schedBackoff,
		Slice: compute.SliceConfig{Min: 3, Grow: grow, Idle: idle, Salt: "job"}})
	var peers []compute.Peer
	for i := range 8 {
		peers = append(peers, compute.Peer{ID: fmt.Sprint("p", i), Slots: 2, Free: 2})
	}
	peers[7].Free = 0 // another job's slice fills it
	s.SetPeers(peers)
	// p0..p2 hold 8 chunks each, p3..p7 hold 2 each.
	n := 0
	for i := range 8 {
		held := 2
		if i < 3 {
			held = 8
		}
		for range held {
			addTask(t, s, n, []string{fmt.Sprint("p", i)}, fmt.Sprint("g", n), 1, clock0)
			n++
		}
	}
	at := clock0
	runs := map[string]int{}
	take := func(as []compute.Assignment) {
		for _, a := range as {
			if !slices.Contains(s.Members(), a.Peer) {
				t.Fatalf("%v outside the slice %v", a, s.Members())
			}
			runs[a.Peer]++
		}
	}
	take(s.Next(at))
	if got := s.Members(); !slices.Equal(got, []string{"p0", "p1", "p2"}) {
		t.Fatalf("the job starts on %v, want the three holding most of its chunks", got)
	}
	if len(runs) != 3 || runs["p0"] != 2 {
		t.Fatalf("first runs %v", runs)
	}
	take(s.Next(at.Add(grow - time.Nanosecond)))
	if len(s.Members()) != 3 {
		t.Fatalf("grew before Grow: %v", s.Members())
	}
	if w := s.Wake(at); !w.Equal(at.Add(grow)) {
		t.Fatalf("wake %v, want the next growth at %v", w.Sub(at), grow)
	}
	at = at.Add(grow)
	take(s.Next(at))
	if got := len(s.Members()); got != 6 {
		t.Fatalf("after one Grow with a backlog: %d members %v, want 6", got, s.Members())
	}
	at = at.Add(grow)
	take(s.Next(at))
	if got := s.Members(); len(got) != 7 || slices.Contains(got, "p7") {
		t.Fatalf("after two: %v; want every peer but the full p7", got)
	}
	// A task of three runs on distinct peers, its holder p7 full: the
	// slice's members are tried one by one, then p7 joins for it anyway.
	// Finish everything first.
	for i := range n {
		for _, p := range s.Members() {
			s.Ended(i, p, compute.RunDone, at)
		}
		s.Complete(i)
	}
	if got := s.Next(at); len(got) != 0 {
		t.Fatalf("runs with nothing left: %v", got)
	}
	// Idle: down to Min.
	at = at.Add(idle)
	s.Next(at)
	if got := len(s.Members()); got != 3 {
		t.Fatalf("after Idle with nothing to do: %d members, want 3", got)
	}
	addTask(t, s, n, []string{"p7"}, "late", 4, at)
	var placed []string
	for range 8 {
		for _, a := range s.Next(at) {
			placed = append(placed, a.Peer)
			s.Ended(a.Task, a.Peer, compute.RunDone, at)
		}
		if len(placed) >= 4 {
			break
		}
		at = at.Add(schedWait)
	}
	if len(placed) != 4 {
		t.Fatalf("a task wanting 4 runs got %v with members %v", placed, s.Members())
	}
	slices.Sort(placed)
	if len(slices.Compact(placed)) != 4 {
		t.Fatalf("runs on %v: not distinct", placed)
	}
}
