package fstest

import "fmt"

// Faulty is a Durable env whose cloud can fail for a moment, as a real
// one does: a put, a fetch, a lookup or a publish failing, or a publish
// (or put) that took effect but whose answer was lost. The same
// invariants hold through them: every durable point survives a crash, no
// byte that was never written shows, the tree takes changes, and no
// mount takes its own commits for another device's.
type Faulty interface {
	Durable
	// FaultyCommit commits while the cloud fails one call, chosen by
	// fault (any number: the env maps it to a kind of call and how many
	// of them go through first). It reports whether the fault hit a call,
	// and the commit's error.
	FaultyCommit(fault uint64) (hit bool, err error)
	// FaultyReopen is Crash(false, …) with the cloud's reads failing for
	// a moment while the tree reopens, chosen by fault; an open that
	// fails for them is made again once they pass.
	FaultyReopen(fault uint64) error
	// FaultyClose unmounts the tree while the cloud fails as fault
	// chooses (its last commit failing, or its publish's answer lost),
	// and mounts it again on what it left. It reports whether the fault
	// hit a call.
	FaultyClose(fault uint64) (hit bool, err error)
}

// faultStep makes one of the steps only a Faulty env has.
func (r *run) faultStep(step int) (desc string, got error, ok bool) {
	f := r.durable.(Faulty)
	fault := r.rng.Uint64()
	if r.rng.IntN(4) == 0 {
		desc = fmt.Sprintf("crash, and reopen while the cloud fails (fault %#x)", fault)
		if err := f.FaultyReopen(fault); err != nil {
			r.t.Fatalf("seed %d step %d: %s: %v", r.opts.Seed, step, desc, err)
		}
		r.afterCrash(step, desc, r.saved)
		r.crashes++
		return desc, nil, true
	}
	if r.rng.IntN(4) == 0 {
		desc = fmt.Sprintf("unmount while the cloud fails (fault %#x), and mount again", fault)
		hit, err := f.FaultyClose(fault)
		if err != nil {
			r.t.Fatalf("seed %d step %d: %s: %v", r.opts.Seed, step, desc, err)
		}
		// Unmounting saves everything, synced; its commit went out,
		// or did not, or its answer was lost.
		r.saved, r.synced = r.m.snapshot(), r.m.snapshot()
		if hit {
			r.committed = nil
		} else {
			r.committed = r.m.snapshot()
		}
		r.afterCrash(step, desc, r.saved)
		return desc, nil, true
	}
	desc = fmt.Sprintf("commit while the cloud fails (fault %#x)", fault)
	before, now := r.saved, r.m.snapshot()
	// One fault, or a few in a row: a commit whose answer was lost, then
	// the next failing too.
	var err error
	hit := false
	for n := 0; n == 0 || (err != nil && n < 3 && r.rng.IntN(2) == 0); n++ {
		if n > 0 {
			fault = r.rng.Uint64()
			desc += fmt.Sprintf(", again (fault %#x)", fault)
		}
		var h bool
		h, err = f.FaultyCommit(fault)
		hit = hit || h
	}
	where := fmt.Sprintf("seed %d step %d (%s)", r.opts.Seed, step, desc)
	if err == nil {
		r.saved, r.committed, r.synced = now, r.m.snapshot(), r.m.snapshot()
		return desc, nil, true
	}
	if !hit {
		r.t.Fatalf("%s: the commit failed with no fault: %v", where, err)
	}
	// Published or not, the commit's intent may be saved: the durable
	// point is the one before it or now, and the cloud's is not known;
	// so is the synced one, until the next sync.
	r.committed, r.synced = nil, nil
	if !f.Writable() {
		r.t.Fatalf("%s: a failed commit (%v) left the tree read-only", where, err)
	}
	if r.rng.IntN(2) == 0 {
		desc += ", then crash"
		if _, err := f.Crash(false, 0, false); err != nil {
			r.t.Fatalf("%s: crash and reopen: %v", where, err)
		}
		r.afterCrash(step, desc, before, now)
		r.crashes++
		return desc, nil, true
	}
	// Pin the durable point down: now.
	desc += ", then flush"
	if got = f.Flush(); got == nil {
		r.saved = r.m.snapshot()
	}
	return desc, got, true
}
