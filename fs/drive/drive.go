package drive

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"
	"github.com/murmur-cloud/murmur/pipeline"
)

// Config configures a mounted drive.
type Config struct {
	Keys  *crypt.Keys // the unlocked drive; required
	Cloud Cloud       // required
	// StateDir is the mount's state directory (fs/state): the inode
	// records, the write journal and the cache of fetched blocks.
	// Required, except for a ReadOnly mount, which keeps its cache in a
	// temporary directory when it is empty.
	StateDir string
	// Pipeline configures how contents are sealed and coded: K and M,
	// chunking, workers. Its Keys are set from Keys.
	Pipeline pipeline.Config
	// Code, if not nil, chooses k and m before every commit (the cloud's
	// members come and go; a code wider than the members reachable
	// cannot be placed). An error or k < 1 keeps Pipeline's.
	Code func(ctx context.Context) (k, m int, err error)
	// KeyFile is the drive's passphrase-wrapped key, kept in the root so
	// another device can unlock the drive with the passphrase alone.
	KeyFile []byte
	// ReadOnly mounts without asking for the writer lease; Snapshot, if
	// not zero, mounts that commit instead of the latest (read-only).
	ReadOnly bool
	Snapshot uint64
	// CommitEvery is how often the background commit looks for changes
	// to upload. Zero: 5 s.
	CommitEvery time.Duration
	// FlushEvery is how often changed inode records go to the state
	// directory without a sync (fsync syncs at once). Zero: 1 s.
	FlushEvery time.Duration
	// LeaseTerm is how long the writer lease lasts unless renewed; it is
	// renewed every third of it. Zero: 30 s.
	LeaseTerm time.Duration
	// FollowEvery is how often a read-only mount looks for a new root.
	// Zero: 2 s.
	FollowEvery time.Duration
	// CacheBytes bounds the local blocks of uploaded contents kept in the
	// state directory. Unuploaded contents are never evicted and do not
	// count. Zero: 4 GiB.
	CacheBytes int64
	// RenewEvery is how often the leases on every shard of the drive's
	// current tree are renewed. Zero: a day.
	RenewEvery time.Duration
	// Uid, Gid and RootMode are the new drive's root directory's owner and
	// mode (Create only).
	Uid, Gid, RootMode uint32
	Clock              func() time.Time
	Logger             *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Keys == nil:
		return c, errors.New("fs: drive.Config.Keys is required")
	case c.Cloud == nil:
		return c, errors.New("fs: drive.Config.Cloud is required")
	case c.StateDir == "" && !c.ReadOnly && c.Snapshot == 0:
		return c, errors.New("fs: drive.Config.StateDir is required for a writable mount")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.CommitEvery, 5*time.Second)
	def(&c.FlushEvery, time.Second)
	def(&c.LeaseTerm, 30*time.Second)
	def(&c.FollowEvery, 2*time.Second)
	def(&c.RenewEvery, 24*time.Hour)
	if c.CacheBytes <= 0 {
		c.CacheBytes = 4 << 30
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Pipeline.Keys = c.Keys
	return c, nil
}

// Drive is a mounted drive: its Tree, kept in a state directory and
// committed to the cloud in the background.
type Drive struct {
	cfg    Config
	t      *fs.Tree
	st     *state.Dir
	remote *remote
	log    *slog.Logger

	commitMu sync.Mutex // one commit, restore or reload at a time
	pubMu    sync.Mutex // one publish of the root at a time
	mu       sync.Mutex
	pipe     pipeline.Config // its K and M follow Config.Code
	seq      uint64          // the newest root this mount published or follows
	ref      []byte          // its super's reference
	gen      uint64          // its commit number
	epoch    uint64          // the last change epoch a published commit covers
	writer   [16]byte        // this mount's ID
	writing  bool            // holds the writer lease
	frozen   bool            // holds changes it cannot commit: never follows
	noLease  bool            // publishes roots without a lease: Create, and Close's last
	until    time.Time       // when that lease lapses
	why      string          // why the drive is read-only, if it is
	lastErr  error           // the last commit's failure, if it failed
	lastAt   time.Time       // the last successful commit
	pages    map[uint64][]byte
	onChange func(changed []fs.Ino)
	// unresolved is the last commit whose root may have gone out without
	// this mount hearing so (its publish failed, or its answer was lost):
	// every save of the state's metadata keeps it as pending until a
	// later publish succeeds, so the next open looks for it in the cloud.
	unresolved *intent

	saveErr  atomic.Pointer[error] // the last failure to save the state, until a save succeeds
	upDone   atomic.Int64          // bytes the running commit has uploaded
	upTotal  atomic.Int64          // bytes it uploads
	sched    scheduler             // when the background commit runs (loop.go)
	stop     chan struct{}
	done     sync.WaitGroup
	stopOnce sync.Once

	// synced, if not nil, hears of every file of the state directory
	// synced (state.Options.Synced): for tests that model a crash of the
	// machine.
	synced func(path string)
	// restored, if not nil, is called by Restore once the tree is the
	// snapshot's, before its commit: for tests that crash there.
	restored func()
}

// ErrLeaseLost reports a drive whose writer lease went to another mount:
// its changes since are kept in its state directory, never merged.
var ErrLeaseLost = errors.New("fs: another mount holds the drive's writer lease")

// ErrNoDrive reports a drive that does not exist in the cloud.
var ErrNoDrive = errors.New("fs: no such drive in the cloud")

// Create makes a new, empty drive in the cloud: its first commit and root,
// holding keyFile. It fails if the drive has a root already.
func Create(ctx context.Context, cfg Config) error {
	cfg.ReadOnly, cfg.StateDir = true, ""
	d, err := newDrive(cfg)
	if err != nil {
		return err
	}
	defer d.closeState()
	if d.st, err = state.OpenTemp(d.stateOptions()); err != nil {
		return err
	}
	if err := d.newTree(); err != nil {
		return err
	}
	if _, _, err := cfg.Cloud.LookupRoot(ctx, cfg.Keys.PublicKey()); err == nil {
		return fmt.Errorf("fs: drive %s exists already", cfg.Keys.Drive())
	} else if !errors.Is(err, ErrNoRoot) {
		return err
	}
	d.writing, d.noLease = true, true
	return d.commit(ctx, true)
}

func newDrive(cfg Config) (*Drive, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Drive{cfg: cfg, pipe: cfg.Pipeline, log: cfg.Logger, pages: map[uint64][]byte{}, stop: make(chan struct{})}
	d.remote = newRemote(cfg.Pipeline, cfg.Cloud)
	return d, nil
}

// stateOptions configures the state directory.
func (d *Drive) stateOptions() state.Options {
	return state.Options{Clock: d.cfg.Clock, Logger: d.log, Synced: d.synced}
}

// newTree makes the drive's tree over its state directory, which is open.
func (d *Drive) newTree() error {
	d.st.SetSource(d.remote)
	t, err := fs.New(fs.Config{
		Clock: d.cfg.Clock, RootMode: d.cfg.RootMode, RootUid: d.cfg.Uid, RootGid: d.cfg.Gid,
		MaxFileSize: pipeline.MaxFileSize,
		Contents:    d.st,
		Sync:        d.fsynced,
		Space:       d.space,
		Logger:      d.log,
	})
	d.t = t
	return err
}

func (d *Drive) pipeConfig() pipeline.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pipe
}

// Tree returns the drive's tree, for the FUSE layer.
func (d *Drive) Tree() *fs.Tree { return d.t }

// OnChange sets fn to be called, after a read-only mount followed a new
// root, with the inodes that changed, so the FUSE layer can tell the
// kernel to forget what it cached of them.
func (d *Drive) OnChange(fn func(changed []fs.Ino)) {
	d.mu.Lock()
	d.onChange = fn
	d.mu.Unlock()
}

// Open mounts the drive: it loads the tree from the state directory if
// that is current, else from the cloud; takes the writer lease unless
// read-only or another mount holds it (then the drive is read-only, and
// Status says why); and starts committing, or following, in the
// background.
func Open(ctx context.Context, cfg Config) (*Drive, error) {
	d, err := newDrive(cfg)
	if err != nil {
		return nil, err
	}
	if err := d.open(ctx); err != nil {
		d.closeState()
		return nil, err
	}
	d.start()
	return d, nil
}

// save writes what changed in the tree to the state directory, with the
// drive's metadata if meta is not nil, and syncs it if sync. A failure is
// kept for Status until a save succeeds; the changes are saved again by
// the next.
func (d *Drive) save(meta []byte, sync bool) error {
	err := d.st.Flush(d.t, meta, sync)
	if err != nil {
		if prev := d.saveErr.Swap(&err); prev == nil || (*prev).Error() != err.Error() {
			d.log.Error("fs: the state directory cannot be written; what changed stays in memory, and is saved once it can be", "dir", d.st.Path(), "err", err)
		}
		return err
	}
	if prev := d.saveErr.Swap(nil); prev != nil {
		d.log.Info("fs: the state directory is written again", "dir", d.st.Path())
	}
	return nil
}

// meta returns the drive's local metadata as it is now.
func (d *Drive) meta(clean bool, pending *intent) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	var next fs.Ino
	d.t.Inspect(func(v fs.View) { next = v.Next() })
	if pending == nil {
		pending = d.unresolved
	}
	return (&meta{Drive: d.cfg.Keys.Drive(), Writer: d.writer, Seq: d.seq, Gen: d.gen, Ref: d.ref,
		Next: next, Clean: clean, Epoch: d.epoch, Pending: pending}).marshal()
}

// Close stops the background work, commits what is pending (when it
// holds the lease), syncs the state directory and closes it. ctx bounds
// the final commit; if it fails, the changes stay in the state directory
// for the next mount, and Close says so.
func (d *Drive) Close(ctx context.Context) error {
	d.stopOnce.Do(func() { close(d.stop) })
	d.done.Wait()
	var err error
	d.mu.Lock()
	writing := d.writing
	d.mu.Unlock()
	if writing {
		if cerr := d.Commit(ctx); cerr != nil {
			st := d.Status()
			err = fmt.Errorf("fs: %d bytes in %d files are not in the cloud yet (kept in %s for the next mount): %w", st.PendingBytes, st.PendingFiles, d.cfg.StateDir, cerr)
		} else {
			// Give the lease back, so another device may write at once.
			d.commitMu.Lock()
			d.noLease = true
			err = d.renewLease(ctx)
			d.commitMu.Unlock()
		}
	}
	if d.cfg.Snapshot == 0 {
		err = errors.Join(err, d.save(d.meta(true, nil), true))
	}
	return errors.Join(err, d.closeState())
}

// closeState closes the tree and the state directory.
func (d *Drive) closeState() error {
	if d.t != nil {
		d.t.Close()
	}
	if d.st == nil {
		return nil
	}
	err := d.st.Close()
	d.st = nil
	return err
}

// KeyFile returns the passphrase-wrapped key file kept in the root of the
// drive whose public key is drive, so a device that knows only the drive's
// public key and its passphrase can unlock it.
func KeyFile(ctx context.Context, cloud Cloud, drive ed25519.PublicKey) ([]byte, error) {
	_, value, err := cloud.LookupRoot(ctx, drive)
	if errors.Is(err, ErrNoRoot) {
		return nil, fmt.Errorf("%w: no root for drive %x", ErrNoDrive, []byte(drive))
	}
	if err != nil {
		return nil, err
	}
	root, err := format.ParseRoot(value)
	if err != nil {
		return nil, fmt.Errorf("fs: the drive's root: %w", err)
	}
	if len(root.Key) == 0 {
		return nil, fmt.Errorf("fs: drive %x keeps no key file in its root: unlock it with its key file", []byte(drive))
	}
	return root.Key, nil
}
