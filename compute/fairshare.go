package compute

import "time"

// FairShare divides a worker's slots among the owners whose jobs want
// them, with no master: a free slot goes to the owner asking unless
// another owner, turned away within the window, runs fewer tasks here;
// then the asker is turned away and the slot waits for the other's
// retry. So contending owners converge on equal shares, and with no one
// else waiting any free slot is taken: a lone job uses the whole worker. The owners' slices
// (slice.go) keep a job from spreading onto workers others fill.
// FairShare is not safe for concurrent use.
type FairShare struct {
	slots   int
	window  time.Duration
	total   int
	running map[string]int
	turned  map[string]time.Time // owners turned away, when last
}

// DefaultFairWindow is how long an owner turned away counts as waiting:
// longer than an owner's backoff after a busy answer (SchedConfig.Backoff).
const DefaultFairWindow = 10 * time.Second

// NewFairShare returns the share of slots slots; window 0 means
// DefaultFairWindow.
func NewFairShare(slots int, window time.Duration) *FairShare {
	if window <= 0 {
		window = DefaultFairWindow
	}
	return &FairShare{slots: slots, window: window, running: map[string]int{}, turned: map[string]time.Time{}}
}

// Admit reports whether a run of owner may take a slot now; if so it
// holds one until Release.
func (f *FairShare) Admit(owner string, now time.Time) bool {
	for o, at := range f.turned {
		if now.Sub(at) >= f.window {
			delete(f.turned, o)
		}
	}
	if f.total >= f.slots {
		f.turned[owner] = now
		return false
	}
	for o := range f.turned {
		if o != owner && f.running[o] < f.running[owner] {
			// A waiting owner with fewer runs here gets the slot.
			f.turned[owner] = now
			return false
		}
	}
	f.running[owner]++
	f.total++
	delete(f.turned, owner)
	return true
}

// Release gives back a slot Admit gave owner.
func (f *FairShare) Release(owner string) {
	if f.running[owner] > 0 {
		f.running[owner]--
		f.total--
		if f.running[owner] == 0 {
			delete(f.running, owner)
		}
	}
}

// Running returns the slots taken.
func (f *FairShare) Running() int { return f.total }
