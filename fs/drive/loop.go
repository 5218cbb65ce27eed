package drive

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"
)

// start runs the background work: saving the state, committing and
// renewing the lease, or following new roots.
func (d *Drive) start() {
	d.done.Add(2)
	go func() {
		defer d.done.Done()
		d.loop()
	}()
	go func() {
		defer d.done.Done()
		d.leaseLoop()
	}()
}

// Scheduling the background commit. It runs once the drive has been idle
// for Quiet (uploading competes with what the user is doing), or for
// SyncQuiet after an fsync (a program that syncs wants its data kept: the
// cloud is where it is kept from the loss of this machine), or when its
// oldest uncommitted change is MaxDirty old; and at most every
// CommitEvery. The loop sleeps until the moment that is due, not a fixed
// tick.
const (
	// SyncQuiet is how long the drive must be idle after an fsync before
	// the background commit runs.
	SyncQuiet = 100 * time.Millisecond
	// idleCheck is how often the loop looks for a first change when none
	// is pending: the tree tells no one of a change.
	idleCheck = Quiet / 4
)

// scheduler is the background commit's bookkeeping: fsyncs since the last
// commit, the commits running, and the signal of their ends for
// WaitCommitted. Its zero value is ready.
type scheduler struct {
	synced  atomic.Bool
	running atomic.Int32
	mu      sync.Mutex
	kick    chan struct{} // a buffered wake-up for the loop
	ended   chan struct{} // closed when a commit ends
}

func (s *scheduler) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kick == nil {
		s.kick = make(chan struct{}, 1)
		s.ended = make(chan struct{})
	}
}

// wake returns the channel that wakes the loop.
func (s *scheduler) wake() <-chan struct{} {
	s.init()
	return s.kick
}

// noteSync records an fsync and wakes the loop.
func (s *scheduler) noteSync() {
	s.init()
	s.synced.Store(true)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// begin and end bracket a commit.
func (s *scheduler) begin() { s.init(); s.running.Add(1) }

func (s *scheduler) end() {
	s.running.Add(-1)
	s.mu.Lock()
	close(s.ended)
	s.ended = make(chan struct{})
	s.mu.Unlock()
}

// next returns the channel closed when the next commit ends.
func (s *scheduler) next() <-chan struct{} {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// fsynced is the tree's Sync: it saves every change of the tree, synced,
// and has the background commit run soon.
func (d *Drive) fsynced() error {
	err := d.save(nil, true)
	d.sched.noteSync()
	return err
}

// commitWait returns how long the background commit should wait before
// it runs; zero or less: now. lastCommit is when the last one ran.
func (d *Drive) commitWait(lastCommit time.Time) time.Duration {
	d.mu.Lock()
	writing := d.writing
	d.mu.Unlock()
	if !writing {
		return d.cfg.CommitEvery
	}
	since, last := d.t.Activity()
	if since == 0 {
		return idleCheck
	}
	now := d.cfg.Clock().UnixNano()
	due := min(last+int64(Quiet), since+int64(MaxDirty))
	if early := last + int64(SyncQuiet); d.sched.synced.Load() && early < due {
		// After an fsync, early: unless every change is a file still
		// being written, which the commit would leave out (a database
		// that fsyncs its open file every second would otherwise have
		// a root published with nothing in it every CommitEvery).
		if now < early || d.takesAny(now) {
			due = early
		}
	}
	due = max(due, lastCommit.Add(d.cfg.CommitEvery).UnixNano())
	return time.Duration(due - now)
}

// takesAny reports whether a background commit run at now would take a
// change: whether a changed inode is not a file being written (Busy),
// which the commit leaves for later.
func (d *Drive) takesAny(now int64) bool {
	takes := false
	d.t.Inspect(func(v fs.View) {
		for n, f := range v.All() {
			if !v.Changed(n.Attr.Ino) {
				continue
			}
			if sf, ok := f.(*state.File); !ok || !sf.Busy(now, int64(Quiet), int64(MaxDirty)) {
				takes = true
				return
			}
		}
	})
	return takes
}

// WaitCommitted returns once every change made to the tree before the
// call is in a published commit: no change waits for a commit and none
// is running. It waits for the commits' ends, not on a clock; it returns
// ctx's error if ctx ends first, and the last commit's error if the drive
// is read-only (a lost lease: nothing will commit).
func (d *Drive) WaitCommitted(ctx context.Context) error {
	for {
		ended := d.sched.next()
		// Pending first: a commit takes the changes after it counts
		// itself running, and gives back those it failed to publish
		// before it ends.
		if !d.t.Pending() && d.sched.running.Load() == 0 {
			return nil
		}
		d.mu.Lock()
		writing, err := d.writing, d.lastErr
		d.mu.Unlock()
		if !writing {
			if err == nil {
				err = fs.ErrReadOnly
			}
			return err
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *Drive) loop() {
	flush := time.NewTicker(d.cfg.FlushEvery)
	defer flush.Stop()
	commit := time.NewTimer(idleCheck)
	defer commit.Stop()
	follow := time.NewTicker(d.cfg.FollowEvery)
	defer follow.Stop()
	renew := time.NewTimer(time.Minute)
	defer renew.Stop()
	lastCommit := d.cfg.Clock()
	runCommit := func() {
		if wait := d.commitWait(lastCommit); wait > 0 {
			commit.Reset(wait)
			return
		}
		lastCommit = d.cfg.Clock()
		d.sched.synced.Store(false) // fsyncs from now on ask for the next commit
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		if err := d.commit(ctx, false); err != nil {
			d.log.Error("fs: commit", "err", err)
		}
		cancel()
		d.evict()
		commit.Reset(max(d.commitWait(lastCommit), 0))
	}
	for {
		select {
		case <-d.stop:
			return
		case <-flush.C:
			d.save(nil, false) // a failure is logged and kept for Status; the next tick retries
		case <-commit.C:
			runCommit()
		case <-d.sched.wake():
			if !commit.Stop() {
				select { // a fire not yet taken
				case <-commit.C:
				default:
				}
			}
			runCommit()
		case <-follow.C:
			d.mu.Lock()
			follow := !d.writing && !d.frozen
			d.mu.Unlock()
			if follow && d.cfg.Snapshot == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := d.Follow(ctx); err != nil {
					d.log.Warn("fs: follow the drive's root", "err", err)
				}
				cancel()
			}
		case <-renew.C:
			renew.Reset(d.cfg.RenewEvery)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			if err := d.RenewShards(ctx); err != nil {
				d.log.Warn("fs: renew shard leases", "err", err)
			}
			cancel()
		}
	}
}

// Follow loads the drive's newest root if it differs from the one this
// read-only mount shows, and reports the inodes that changed to OnChange's
// function. A mount that holds changes it could not commit never follows:
// they stay as they are.
func (d *Drive) Follow(ctx context.Context) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	frozen := d.frozen
	d.mu.Unlock()
	if frozen {
		return nil
	}
	seq, value, err := d.cfg.Cloud.LookupRoot(ctx, d.cfg.Keys.PublicKey())
	if err != nil {
		return err
	}
	root, err := format.ParseRoot(value)
	if err != nil {
		return err
	}
	d.mu.Lock()
	same := bytes.Equal(root.Super, d.ref)
	d.seq = max(d.seq, seq)
	d.mu.Unlock()
	if same {
		return nil
	}
	s, err := d.loadSuper(ctx, root.Super)
	if err != nil {
		return err
	}
	return d.switchTo(ctx, root.Super, s)
}

// switchTo makes the commit s (whose reference is ref) the tree this
// mount shows, and records it in the state directory in one batch with
// the records it changed. A file whose contents the commit changed keeps
// its open handles, with the new contents as its base.
func (d *Drive) switchTo(ctx context.Context, ref []byte, s *format.Super) error {
	changed, err := d.replace(ctx, s)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.ref, d.gen, d.pages = ref, s.Gen, s.Pages
	fn := d.onChange
	d.mu.Unlock()
	if fn != nil {
		fn(changed)
	}
	return d.save(d.meta(false, nil), false)
}

// replace makes the tree the one commit s holds, and returns the inodes
// that changed.
func (d *Drive) replace(ctx context.Context, s *format.Super) ([]fs.Ino, error) {
	return d.replaceTree(ctx, s, d.t.Replace)
}

// replaceTree is replace with the Tree's Replace or ReplaceChanged.
func (d *Drive) replaceTree(ctx context.Context, s *format.Super, replace func(map[fs.Ino]*fs.Node, func(fs.Ino, *fs.Node, fs.File) (fs.File, bool), fs.Ino) ([]fs.Ino, error)) ([]fs.Ino, error) {
	nodes, manifests, err := d.loadPages(ctx, s)
	if err != nil {
		return nil, err
	}
	var ferr error
	changed, err := replace(nodes, func(ino fs.Ino, _ *fs.Node, old fs.File) (fs.File, bool) {
		m := manifests[ino]
		if of, ok := old.(*state.File); ok {
			if of.SameBase(m) {
				return of, false
			}
			if err := of.Rebase(m); err != nil && ferr == nil {
				ferr = err
			}
			return of, true
		}
		f, err := d.st.NewBase(ino, m)
		if err != nil && ferr == nil {
			ferr = err
		}
		return f, true
	}, s.Next)
	if err == nil {
		err = ferr
	}
	return changed, err
}
