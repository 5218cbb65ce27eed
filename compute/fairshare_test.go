package compute_test

import (
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/compute"
)

// TestFairShare: a lone owner takes every slot; a second owner turned
// away makes the first give back down to its share as its runs end, and
// gets the freed slot on its retry; an owner no longer waiting after the
// window lets the other take every slot again.
func TestFairShare(t *testing.T) {
	const window = 10 * time.Second
	f := compute.NewFairShare(4, window)
	at := clock0
	for i := range 4 {
		if !f.Admit("a", at) {
			t.Fatalf("a lone owner turned away at %d of 4 slots", i)
		}
	}
	if f.Admit("a", at) || f.Admit("b", at) {
		t.Fatal("a run beyond the slots")
	}
	// b waits. Two of a's runs end: a's next run is turned away (its
	// share is 2 of 4), b's retry takes the slots.
	f.Release("a")
	f.Release("a")
	if f.Admit("a", at.Add(time.Second)) {
		t.Fatal("a took a third slot while b waited")
	}
	at = at.Add(3 * time.Second)
	if !f.Admit("b", at) || !f.Admit("b", at) {
		t.Fatal("b did not get its share")
	}
	if f.Running() != 4 {
		t.Fatalf("%d running", f.Running())
	}
	// A third owner: shares of 2 (4 over 3, rounded up).
	if f.Admit("c", at) {
		t.Fatal("c past the slots")
	}
	f.Release("b")
	if f.Admit("b", at) {
		t.Fatal("b took back its slot while c waited")
	}
	if !f.Admit("c", at.Add(time.Second)) {
		t.Fatal("c did not get the freed slot")
	}
	// Everyone's runs end; after the window nobody counts as waiting,
	// and one owner takes all four again.
	f.Release("a")
	f.Release("a")
	f.Release("b")
	f.Release("c")
	at = at.Add(window + time.Second)
	for i := range 4 {
		if !f.Admit("a", at) {
			t.Fatalf("a lone owner again turned away at %d", i)
		}
	}
}
