package node

import (
	"testing"
	"time"
)

// TestCatchupSpacing: a member that keeps reconnecting gets catch-up
// passes ever further apart, up to an hour; one that stays away for a
// while starts again from a second.
func TestCatchupSpacing(t *testing.T) {
	var c catchupState
	now := time.Unix(0, 0)
	if !c.allows(now) {
		t.Fatal("a member never caught up is refused")
	}
	var gaps []time.Duration
	for range 16 {
		c = c.after(now)
		gaps = append(gaps, c.gap)
		if c.allows(now.Add(c.gap - time.Millisecond)) {
			t.Fatalf("a catch-up allowed before its gap of %v", c.gap)
		}
		now = now.Add(c.gap) // it reconnects as soon as it may
	}
	if gaps[0] != minCatchupGap || gaps[1] != 2*minCatchupGap || gaps[len(gaps)-1] != maxCatchupGap {
		t.Fatalf("gaps %v: want doubling from %v up to %v", gaps, minCatchupGap, maxCatchupGap)
	}
	c = c.after(now.Add(3 * maxCatchupGap)) // away for long
	if c.gap != minCatchupGap {
		t.Fatalf("after a long absence the gap is %v", c.gap)
	}
}
