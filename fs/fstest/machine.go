package fstest

// MachineCrasher is a Durable env that can also crash as its machine
// does: its state keeps each file as it was at its last sync and loses
// the rest (the page cache). After such a crash the tree must be the last
// synced point's (an fsync, a commit's intent, a mount's own sync): its
// namespace exactly, each file's bytes as checkCrash allows, never a byte
// that was not written.
type MachineCrasher interface {
	Durable
	// MachineCrash abandons the tree as a crash of the machine would,
	// and reopens it on what the disk kept.
	MachineCrash() error
}

// machineStep crashes the machine, if the last synced point is known.
func (r *run) machineStep(step int) (desc string, ok bool) {
	mc, isMC := r.durable.(MachineCrasher)
	if !isMC || r.synced == nil {
		return "", false
	}
	desc = "crash of the machine"
	if err := mc.MachineCrash(); err != nil {
		r.t.Fatalf("seed %d step %d: %s and reopen: %v", r.opts.Seed, step, desc, err)
	}
	r.afterCrash(step, desc, r.synced)
	r.crashes++
	return desc, true
}
