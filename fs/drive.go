package fs

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// DriveConfig configures a mounted drive.
type DriveConfig struct {
	Keys  *crypt.Keys // the unlocked drive; required
	Cloud Cloud       // required
	// StateDir is the mount's state directory: the inode records, the
	// write journal (cache files of unuploaded contents) and the cache of
	// fetched blocks. Required, except for a ReadOnly mount, which keeps
	// its cache in a temporary directory when it is empty.
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
	// CommitEvery is how often changes are uploaded and a root published.
	// Zero: 5 s.
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

func (c DriveConfig) withDefaults() (DriveConfig, error) {
	switch {
	case c.Keys == nil:
		return c, errors.New("fs: DriveConfig.Keys is required")
	case c.Cloud == nil:
		return c, errors.New("fs: DriveConfig.Cloud is required")
	case c.StateDir == "" && !c.ReadOnly && c.Snapshot == 0:
		return c, errors.New("fs: DriveConfig.StateDir is required for a writable mount")
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
	cfg  DriveConfig
	pipe pipeline.Config
	t    *Tree
	log  *slog.Logger

	commitMu sync.Mutex // one commit, restore or reload at a time
	pubMu    sync.Mutex // one publish of the root at a time
	mu       sync.Mutex
	seq      uint64    // the newest root this mount published or follows
	ref      []byte    // its super's reference
	gen      uint64    // its commit number
	writer   [16]byte  // this mount's ID
	writing  bool      // holds the writer lease
	frozen   bool      // holds changes it cannot commit: never follows
	noLease  bool      // publishes roots without a lease: Create, and Close's last
	until    time.Time // when that lease lapses
	why      string    // why the drive is read-only, if it is
	lastErr  error     // the last commit's failure, if it failed
	lastAt   time.Time // the last successful commit
	pages    map[uint64][]byte
	onChange func(changed []Ino)

	stop chan struct{}
	done sync.WaitGroup
}

// ErrLeaseLost reports a drive whose writer lease went to another mount:
// its changes since are kept in its state directory, never merged.
var ErrLeaseLost = errors.New("fs: another mount holds the drive's writer lease")

// ErrNoDrive reports a drive that does not exist in the cloud.
var ErrNoDrive = errors.New("fs: no such drive in the cloud")

// Create makes a new, empty drive in the cloud: its first commit and root,
// holding keyFile. It fails if the drive has a root already.
func Create(ctx context.Context, cfg DriveConfig) error {
	cfg.ReadOnly, cfg.StateDir = true, ""
	d, err := newDrive(cfg)
	if err != nil {
		return err
	}
	defer d.t.closeState()
	if _, _, err := cfg.Cloud.LookupRoot(ctx, cfg.Keys.PublicKey()); err == nil {
		return fmt.Errorf("fs: drive %s exists already", cfg.Keys.Drive())
	} else if !errors.Is(err, ErrNoRoot) {
		return err
	}
	d.t.mark(RootIno)
	d.writing, d.noLease = true, true
	return d.commit(ctx, true)
}

func newDrive(cfg DriveConfig) (*Drive, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t, err := New(Config{Clock: cfg.Clock, RootMode: cfg.RootMode, RootUid: cfg.Uid, RootGid: cfg.Gid, MaxFileSize: pipeline.MaxFileSize})
	if err != nil {
		return nil, err
	}
	t.log = cfg.Logger
	t.dirty, t.changed = map[Ino]struct{}{}, map[Ino]struct{}{}
	pc := cfg.Pipeline
	t.cloud = newRemote(pc, cfg.Cloud)
	t.prefetch = make(chan struct{}, 32)
	t.readahead = 32
	d := &Drive{cfg: cfg, pipe: pc, t: t, log: cfg.Logger, pages: map[uint64][]byte{}, stop: make(chan struct{})}
	return d, nil
}

// Tree returns the drive's tree, for the FUSE layer.
func (d *Drive) Tree() *Tree { return d.t }

// OnChange sets fn to be called, after a read-only mount followed a new
// root, with the inodes that changed, so the FUSE layer can tell the
// kernel to forget what it cached of them.
func (d *Drive) OnChange(fn func(changed []Ino)) {
	d.mu.Lock()
	d.onChange = fn
	d.mu.Unlock()
}

// Open mounts the drive: it loads the tree from the state directory if
// that is current, else from the cloud; takes the writer lease unless
// read-only or another mount holds it (then the drive is read-only, and
// Status says why); and starts committing, or following, in the
// background.
func Open(ctx context.Context, cfg DriveConfig) (*Drive, error) {
	d, err := newDrive(cfg)
	if err != nil {
		return nil, err
	}
	if err := d.open(ctx); err != nil {
		d.t.closeState()
		return nil, err
	}
	d.start()
	return d, nil
}

// meta is what the state directory remembers of the drive.
type meta struct {
	Drive  crypt.DriveID
	Writer [16]byte
	Seq    uint64 // the root the tree in the state directory was at
	Gen    uint64
	Ref    []byte
	Next   Ino
	// Clean says the mount stopped cleanly. After a crash the local
	// blocks of uploaded contents are not trusted (the cache files were
	// never fsynced for them, and eviction may have been cut short):
	// they are fetched again.
	Clean bool
}

func (m *meta) marshal() []byte {
	b := []byte{1}
	b = append(b, m.Drive[:]...)
	b = append(b, m.Writer[:]...)
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendUvarint(b, m.Gen)
	b = binary.AppendUvarint(b, uint64(m.Next))
	b = binary.AppendUvarint(b, uint64(len(m.Ref)))
	b = append(b, m.Ref...)
	if m.Clean {
		return append(b, 1)
	}
	return append(b, 0)
}

func parseMeta(b []byte) (*meta, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != 1 {
		r.Fail("state version %d", v)
	}
	m := &meta{}
	copy(m.Drive[:], r.Bytes(len(m.Drive)))
	copy(m.Writer[:], r.Bytes(16))
	m.Seq, m.Gen = r.Uvarint(1<<63-1), r.Uvarint(1<<63-1)
	m.Next = Ino(r.Uvarint(maxIno))
	m.Ref = slices.Clone(r.LenBytes(MaxRootValue))
	m.Clean = r.Byte() == 1
	r.Done()
	return m, r.Err()
}

func (d *Drive) meta() []byte { return d.metaClean(false) }

func (d *Drive) metaClean(clean bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t.mu.Lock()
	next := d.t.next
	d.t.mu.Unlock()
	return (&meta{Drive: d.cfg.Keys.Drive(), Writer: d.writer, Seq: d.seq, Gen: d.gen, Ref: d.ref, Next: next, Clean: clean}).marshal()
}

func (d *Drive) open(ctx context.Context) error {
	cfg := d.cfg
	seq, value, err := cfg.Cloud.LookupRoot(ctx, cfg.Keys.PublicKey())
	if errors.Is(err, ErrNoRoot) {
		return fmt.Errorf("%w: %s (make it with `murmur drive create`)", ErrNoDrive, cfg.Keys.Drive())
	}
	if err != nil {
		return err
	}
	root, err := parseRootValue(value)
	if err != nil {
		return fmt.Errorf("fs: the drive's root: %w", err)
	}
	if cfg.Snapshot != 0 {
		return d.openSnapshot(ctx, root)
	}
	readOnly := cfg.ReadOnly
	if cfg.StateDir == "" {
		if err := d.t.openTemp(); err != nil {
			return err
		}
	} else if d.t.st, err = openState(cfg.StateDir, d.log); err != nil {
		return err
	}
	var local *meta
	if b, err := d.t.st.getMeta(); err != nil {
		return fmt.Errorf("fs: read state: %w", err)
	} else if b != nil {
		if local, err = parseMeta(b); err != nil {
			return fmt.Errorf("fs: state directory %s: %w", cfg.StateDir, err)
		}
		if local.Drive != cfg.Keys.Drive() {
			return fmt.Errorf("fs: state directory %s belongs to drive %s, not %s", cfg.StateDir, local.Drive, cfg.Keys.Drive())
		}
		d.writer = local.Writer
	} else if _, err := rand.Read(d.writer[:]); err != nil {
		return err
	}

	d.seq = seq
	switch {
	case local != nil && local.Seq > seq:
		// The cloud shows an older root than this mount has seen: a
		// lookup that missed the newest record, or peers withholding it.
		// The state is newer; never roll back to the older root.
		if err := d.t.loadState(); err != nil {
			return err
		}
		d.seq, d.gen, d.ref = local.Seq, local.Gen, local.Ref
		d.t.next = max(d.t.next, local.Next)
		if !local.Clean {
			d.t.distrustCache()
		}
		d.log.Warn("fs: the cloud shows an older root than this mount saw; keeping the newer state", "cloud", seq, "state", local.Seq)
	case local != nil && bytes.Equal(local.Ref, root.Super):
		// The cloud is where this state left it: the state is current.
		if err := d.t.loadState(); err != nil {
			return err
		}
		d.gen, d.ref = local.Gen, local.Ref
		d.t.next = max(d.t.next, local.Next)
		if !local.Clean {
			d.t.distrustCache()
		}
	case local != nil && d.hasLocalChanges():
		// Another device committed since this state was; this state has
		// changes it never committed. They stay here, never merged.
		if err := d.t.loadState(); err != nil {
			return err
		}
		d.gen, d.ref = local.Gen, local.Ref
		if !local.Clean {
			d.t.distrustCache()
		}
		readOnly, d.frozen = true, true
		d.why = fmt.Sprintf("the drive changed on another device since this mount's last commit, and this mount has changes it never committed; they are kept in %s (mounted read-only, as it was before)", cfg.StateDir)
	default:
		if local != nil {
			if err := d.t.clearState(); err != nil {
				return err
			}
		}
		if err := d.loadRoot(ctx, root.Super); err != nil {
			return err
		}
	}
	if !readOnly {
		now := cfg.Clock()
		if root.Writer != d.writer && root.Until.After(now) {
			readOnly = true
			d.why = fmt.Sprintf("another mount holds the drive's writer lease until %s", root.Until.Format(time.RFC3339))
		} else if err := d.renewLease(ctx); err != nil {
			return err
		}
	} else if d.why == "" {
		d.why = "mounted read-only"
	}
	d.t.readOnly.Store(readOnly)
	return d.t.flush(d.meta(), true)
}

// hasLocalChanges reports whether the state directory holds changes not
// yet committed: contents not uploaded.
func (d *Drive) hasLocalChanges() bool {
	dirty := false
	d.t.st.scan(keyContent, func(_ Ino, v []byte) error {
		if len(v) > 1 && v[1]&1 != 0 {
			dirty = true
		}
		return nil
	})
	d.t.st.scan(keyChanged, func(Ino, []byte) error {
		dirty = true
		return nil
	})
	return dirty
}

// loadRoot replaces the tree with the commit whose super ref names.
func (d *Drive) loadRoot(ctx context.Context, ref []byte) error {
	s, err := d.loadSuper(ctx, ref)
	if err != nil {
		return err
	}
	return d.loadCommit(ctx, ref, s)
}

// loadCommit replaces the tree with the commit s, whose super's
// reference is ref.
func (d *Drive) loadCommit(ctx context.Context, ref []byte, s *super) error {
	nodes, err := d.loadPages(ctx, s)
	if err != nil {
		return err
	}
	d.t.mu.Lock()
	err = d.t.adopt(nodes)
	if err == nil {
		d.t.next = max(d.t.next, s.Next)
		for ino := range nodes {
			d.t.dirty[ino] = struct{}{}
		}
	}
	d.t.mu.Unlock()
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.ref, d.gen, d.pages = ref, s.Gen, s.Pages
	d.mu.Unlock()
	return nil
}

// openSnapshot mounts commit number cfg.Snapshot, read-only.
func (d *Drive) openSnapshot(ctx context.Context, root *rootValue) error {
	ref, s, err := d.findSnapshot(ctx, root.Super, d.cfg.Snapshot)
	if err != nil {
		return err
	}
	if err := d.t.openTemp(); err != nil {
		return err
	}
	d.why = fmt.Sprintf("snapshot %d", d.cfg.Snapshot)
	d.t.readOnly.Store(true)
	return d.loadCommit(ctx, ref, s)
}

// findSnapshot walks back from the commit ref names to commit gen, and
// returns its reference and super.
func (d *Drive) findSnapshot(ctx context.Context, ref []byte, gen uint64) ([]byte, *super, error) {
	newest := uint64(0)
	for {
		s, err := d.loadSuper(ctx, ref)
		if err != nil {
			return nil, nil, fmt.Errorf("fs: snapshot %d: %w", gen, err)
		}
		newest = max(newest, s.Gen)
		if s.Gen == gen {
			return ref, s, nil
		}
		if s.Gen < gen || len(s.Prev) == 0 {
			return nil, nil, fmt.Errorf("fs: no snapshot %d (the newest is %d)", gen, newest)
		}
		ref = s.Prev
	}
}

// renewLease publishes the current root again with this mount as the
// writer, for another LeaseTerm; it fails with ErrLeaseLost if the newest
// root is not the one this mount knows.
func (d *Drive) renewLease(ctx context.Context) error {
	return d.publish(ctx, nil, 0)
}

// publish makes ref (nil: the current super) the drive's root, with the
// writer lease renewed, after checking that the cloud's newest root is
// still the one this mount knows: a mount that lost its lease learns it
// here, and publishes nothing.
func (d *Drive) publish(ctx context.Context, ref []byte, gen uint64) error {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	cfg := d.cfg
	seq, value, err := cfg.Cloud.LookupRoot(ctx, cfg.Keys.PublicKey())
	if err != nil && !errors.Is(err, ErrNoRoot) {
		return fmt.Errorf("fs: look up the drive's root: %w", err)
	}
	d.mu.Lock()
	known, curRef, curGen := d.seq, d.ref, d.gen
	d.mu.Unlock()
	if err == nil && seq != known {
		root, perr := parseRootValue(value)
		if perr != nil || root.Writer != d.writer {
			return d.lostLease(seq)
		}
		// A root of ours this mount did not record (a publish whose
		// answer was lost), or a lookup that found an older copy:
		// carry on from the newest.
		if seq > known && ref == nil {
			ref, gen = root.Super, curGen
		}
		known = max(seq, known)
	}
	if ref == nil {
		ref, gen = curRef, curGen
	}
	now := cfg.Clock()
	until := now.Add(cfg.LeaseTerm)
	if d.noLease {
		until = now
	}
	v := &rootValue{Super: ref, Writer: d.writer, Until: until, Key: cfg.KeyFile}
	if len(v.Key) == 0 && err == nil {
		if old, perr := parseRootValue(value); perr == nil {
			v.Key = old.Key
		}
	}
	if err := cfg.Cloud.PublishRoot(ctx, cfg.Keys, known+1, v.marshal()); err != nil {
		return fmt.Errorf("fs: publish the drive's root: %w", err)
	}
	d.mu.Lock()
	d.seq, d.ref, d.gen, d.until, d.writing = known+1, ref, gen, until, true
	d.mu.Unlock()
	return nil
}

func (d *Drive) lostLease(seq uint64) error {
	d.t.readOnly.Store(true)
	d.mu.Lock()
	d.writing, d.frozen = false, true
	d.why = fmt.Sprintf("the writer lease was lost: root %d was published by another mount; this mount's uncommitted changes stay in %s", seq, d.cfg.StateDir)
	d.mu.Unlock()
	d.log.Error("fs: drive is read-only now", "why", d.why)
	return fmt.Errorf("%w (root %d)", ErrLeaseLost, seq)
}

// Commit uploads every change since the last commit and publishes a new
// root: contents through the pipeline, in parallel and packed; then the
// changed pages of the inode table; then a super naming them and the
// previous commit. It returns ErrReadOnly on a read-only drive and
// ErrLeaseLost if the lease went to another mount.
func (d *Drive) Commit(ctx context.Context) error {
	return d.commit(ctx, true)
}

// Quiet is how long a file open for writing must go unwritten before the
// background commit uploads it (a file being written would be uploaded
// only to be uploaded again); MaxDirty bounds how long that can delay it.
const (
	Quiet    = 2 * time.Second
	MaxDirty = time.Minute
)

// commit commits; all=false leaves out files open and written within
// Quiet, unless they have waited MaxDirty.
func (d *Drive) commit(ctx context.Context, all bool) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	writing := d.writing
	d.mu.Unlock()
	if !writing {
		return ErrReadOnly
	}
	err := d.commitLocked(ctx, all)
	d.mu.Lock()
	d.lastErr = err
	if err == nil {
		d.lastAt = d.cfg.Clock()
	}
	d.mu.Unlock()
	return err
}

type pending struct {
	c    *content
	gen  uint64
	size int64
}

// upload is a file's contents as this commit uploaded them.
type upload struct {
	m   *pipeline.Manifest
	enc []byte
	gen uint64
}

func (d *Drive) commitLocked(ctx context.Context, all bool) error {
	t := d.t
	if d.cfg.Code != nil {
		if k, m, err := d.cfg.Code(ctx); err == nil && k >= 1 && m >= 0 {
			d.pipe.K, d.pipe.M = k, m
		} else if err != nil {
			d.log.Warn("fs: choose a code; keeping the last", "k", d.pipe.K, "m", d.pipe.M, "err", err)
		}
	}
	// What changed: contents to upload, pages to rewrite.
	d.mu.Lock()
	first := d.ref == nil
	d.mu.Unlock()
	t.mu.Lock()
	if len(t.changed) == 0 && !first {
		t.mu.Unlock()
		return nil
	}
	changed := t.changed
	t.changed = map[Ino]struct{}{}
	var files []pending
	now := t.now()
	for ino := range changed {
		n := t.nodes[ino]
		if n == nil || n.content == nil || n.attr.Nlink == 0 {
			continue
		}
		c := n.content
		c.mu.Lock()
		busy := !all && c.pins > 0 && now-c.written < int64(Quiet) && now-c.since < int64(MaxDirty)
		switch {
		case c.dirty && busy:
			t.changed[ino] = struct{}{} // next time
			t.changedSince = now        // not overdue: it is being written
		case c.dirty:
			files = append(files, pending{c, c.gen, int64(n.attr.Size)})
		}
		c.mu.Unlock()
	}
	t.mu.Unlock()
	restore := func() {
		t.mu.Lock()
		maps.Copy(t.changed, changed)
		t.mu.Unlock()
	}

	slices.SortFunc(files, func(a, b pending) int { return cmp.Compare(a.c.ino, b.c.ino) })
	readers := make([]io.Reader, len(files))
	for i, p := range files {
		readers[i] = io.NewSectionReader(contentReaderAt{t, p.c}, 0, p.size)
	}
	ms, err := d.upload(ctx, readers)
	if err != nil {
		restore()
		return fmt.Errorf("fs: upload contents: %w", err)
	}

	// Encode the changed pages at one instant: the namespace as it is
	// now, each file's contents as last uploaded — by this commit if the
	// file did not change since it was read. Pages of inodes changed
	// during the upload are encoded too, so no page names an inode
	// another page lost.
	fresh := map[*content]upload{}
	t.mu.Lock()
	for i, p := range files {
		enc, err := ms[i].MarshalBinary()
		if err != nil {
			t.mu.Unlock()
			restore()
			return err
		}
		p.c.mu.Lock()
		if p.c.gen == p.gen && !p.c.freed {
			fresh[p.c] = upload{m: ms[i], enc: enc, gen: p.gen}
		}
		p.c.mu.Unlock()
	}
	touched := map[uint64]bool{}
	for ino := range changed {
		touched[uint64(ino)/PageInodes] = true
	}
	for ino := range t.changed {
		touched[uint64(ino)/PageInodes] = true
	}
	if first {
		touched[uint64(RootIno)/PageInodes] = true
	}
	byPage := map[uint64][]*inode{}
	for ino, n := range t.nodes {
		if p := uint64(ino) / PageInodes; touched[p] && (n.attr.Nlink > 0 || ino == RootIno) {
			byPage[p] = append(byPage[p], n)
		}
	}
	var pageNums []uint64
	var pageBytes []io.Reader
	for p := range touched {
		nodes := byPage[p]
		if len(nodes) == 0 {
			continue
		}
		slices.SortFunc(nodes, func(a, b *inode) int { return cmp.Compare(a.attr.Ino, b.attr.Ino) })
		b := []byte{pageVersion}
		b = binary.AppendUvarint(b, uint64(len(nodes)))
		for _, n := range nodes {
			b = appendCommitted(b, n, fresh)
		}
		pageNums = append(pageNums, p)
		pageBytes = append(pageBytes, bytes.NewReader(pad(b)))
	}
	next := t.next
	t.mu.Unlock()

	pms, err := d.upload(ctx, pageBytes)
	if err != nil {
		restore()
		return fmt.Errorf("fs: upload pages: %w", err)
	}
	d.mu.Lock()
	pages := maps.Clone(d.pages)
	prev, gen := d.ref, d.gen+1
	d.mu.Unlock()
	for p := range touched {
		delete(pages, p)
	}
	for i, p := range pageNums {
		enc, err := pms[i].MarshalBinary()
		if err != nil {
			restore()
			return err
		}
		pages[p] = enc
	}
	s := &super{Gen: gen, Time: d.cfg.Clock(), Next: next, Prev: prev, Pages: pages}
	sms, err := d.upload(ctx, []io.Reader{bytes.NewReader(s.marshal())})
	if err != nil {
		restore()
		return fmt.Errorf("fs: upload super: %w", err)
	}
	ref, err := d.sealRef(sms[0])
	if err != nil {
		restore()
		return err
	}
	if len(ref) > MaxRootValue/2 {
		restore()
		return fmt.Errorf("fs: the super's reference is %d bytes, past %d", len(ref), MaxRootValue/2)
	}
	if err := d.publish(ctx, ref, gen); err != nil {
		restore()
		return err
	}

	// Published: the uploads are the files' bases now. A file written
	// since it was read stays dirty, on top of its new base.
	t.mu.Lock()
	for c, u := range fresh {
		c.mu.Lock()
		c.manifest, c.m, c.limit = u.enc, u.m, u.m.Size
		for b := int64(0); b*BlockSize < u.m.Size; b++ {
			c.mark(b) // the upload read every block, so all are local
		}
		if c.gen == u.gen {
			c.dirty = false
		}
		c.mu.Unlock()
		t.dirty[c.ino] = struct{}{}
	}
	for ino := range changed {
		t.dirty[ino] = struct{}{} // rewrite, so its "changed" mark goes
	}
	t.mu.Unlock()
	d.mu.Lock()
	d.pages = pages
	d.mu.Unlock()
	if d.t.st != nil {
		return d.t.flush(d.meta(), true)
	}
	return nil
}

// appendCommitted appends n's record as the commit keeps it: a file's
// contents as last uploaded (fresh holds this commit's uploads).
func appendCommitted(b []byte, n *inode, fresh map[*content]upload) []byte {
	if n.content == nil {
		return appendRecord(b, n, nil)
	}
	c := n.content
	cp := *n
	if u, ok := fresh[c]; ok {
		cp.attr.Size = uint64(u.m.Size)
		return appendRecord(b, &cp, u.enc)
	}
	c.mu.Lock()
	manifest, m := c.manifest, c.m
	c.mu.Unlock()
	cp.attr.Size = 0
	if m != nil {
		cp.attr.Size = uint64(m.Size)
	}
	return appendRecord(b, &cp, manifest)
}

// contentReaderAt reads a file's contents through its cache file, for an
// upload.
type contentReaderAt struct {
	t *Tree
	c *content
}

func (r contentReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := r.t.readContent(context.Background(), r.c, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// start runs the background work: flushing records, committing and
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

// leaseLoop renews the writer lease every third of its term, on its own:
// a commit uploading for longer than the term must not let it lapse.
func (d *Drive) leaseLoop() {
	tick := time.NewTicker(d.cfg.LeaseTerm / 3)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
			d.mu.Lock()
			writing, until := d.writing, d.until
			d.mu.Unlock()
			if !writing || until.Sub(d.cfg.Clock()) >= 2*d.cfg.LeaseTerm/3 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.LeaseTerm/3)
			if err := d.renewLease(ctx); err != nil {
				d.log.Error("fs: renew the writer lease", "err", err)
			}
			cancel()
		}
	}
}

// dueForCommit says whether the background commit should run now: when
// the drive has been idle for Quiet (uploading competes with what the
// user is doing), or its oldest uncommitted change is MaxDirty old.
func (d *Drive) dueForCommit() bool {
	t := d.t
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.changed) == 0 {
		return false
	}
	return now-t.active.Load() >= int64(Quiet) || now-t.changedSince >= int64(MaxDirty)
}

func (d *Drive) loop() {
	flush := time.NewTicker(d.cfg.FlushEvery)
	defer flush.Stop()
	commit := time.NewTicker(min(d.cfg.CommitEvery, d.cfg.LeaseTerm/3))
	defer commit.Stop()
	follow := time.NewTicker(d.cfg.FollowEvery)
	defer follow.Stop()
	renew := time.NewTimer(time.Minute)
	defer renew.Stop()
	lastCommit := d.cfg.Clock()
	for {
		select {
		case <-d.stop:
			return
		case <-flush.C:
			if d.t.st != nil {
				if err := d.t.flush(nil, false); err != nil {
					d.log.Error("fs: flush state", "err", err)
				}
			}
		case <-commit.C:
			d.mu.Lock()
			writing := d.writing
			d.mu.Unlock()
			now := d.cfg.Clock()
			if !writing || now.Sub(lastCommit) < d.cfg.CommitEvery || !d.dueForCommit() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			if err := d.commit(ctx, false); err != nil {
				d.log.Error("fs: commit", "err", err)
			}
			cancel()
			lastCommit = now
			d.evict()
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
	root, err := parseRootValue(value)
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
// the records it changed.
func (d *Drive) switchTo(ctx context.Context, ref []byte, s *super) error {
	nodes, err := d.loadPages(ctx, s)
	if err != nil {
		return err
	}
	t := d.t
	t.mu.Lock()
	changed, err := t.replaceTree(nodes, s.Next)
	t.mu.Unlock()
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
	if t.st != nil {
		return t.flush(d.meta(), false)
	}
	return nil
}

func sameInode(a, b *inode) bool {
	ma, mb := []byte(nil), []byte(nil)
	if a.content != nil {
		ma = a.content.manifest
	}
	if b.content != nil {
		mb = b.content.manifest
	}
	return a.attr == b.attr && a.target == b.target && maps.Equal(a.entries, b.entries) &&
		bytes.Equal(ma, mb) && maps.EqualFunc(a.xattrs, b.xattrs, bytes.Equal)
}

// RenewShards renews the cloud's leases on every shard of the current
// tree: contents, pages and super.
func (d *Drive) RenewShards(ctx context.Context) error {
	var ids []erasure.ShardID
	var hints []store.Holder
	add := func(m *pipeline.Manifest) {
		for i, s := range m.Stripes {
			for j, sh := range s.Shards {
				if !s.Stored(j) {
					continue
				}
				ids = append(ids, sh.ID)
				var h store.Holder
				if m.Holders != nil {
					h = m.Holders[i][j]
				}
				hints = append(hints, h)
			}
		}
	}
	d.t.mu.Lock()
	for _, n := range d.t.nodes {
		if n.content != nil {
			n.content.mu.Lock()
			if n.content.m != nil {
				add(n.content.m)
			}
			n.content.mu.Unlock()
		}
	}
	d.t.mu.Unlock()
	d.mu.Lock()
	for _, enc := range d.pages {
		if m, err := pipeline.ParseManifest(enc); err == nil {
			add(m)
		}
	}
	ref := d.ref
	d.mu.Unlock()
	if m, err := d.openRef(ref); err == nil {
		add(m)
	}
	const batch = 4096
	for len(ids) > 0 {
		n := min(batch, len(ids))
		if err := d.cfg.Cloud.Renew(ctx, ids[:n], hints[:n]); err != nil {
			return err
		}
		ids, hints = ids[n:], hints[n:]
	}
	return nil
}

// Status is what `murmur status` shows of a mounted drive.
type Status struct {
	Drive        string    `json:"drive"`
	Writer       bool      `json:"writer"`
	ReadOnlyWhy  string    `json:"read_only_why,omitempty"`
	Seq          uint64    `json:"seq"`
	Snapshot     uint64    `json:"snapshot"`
	PendingBytes int64     `json:"pending_bytes"`
	PendingFiles int       `json:"pending_files"`
	CachedBytes  int64     `json:"cached_bytes"`
	LastCommit   time.Time `json:"last_commit"`
	LastError    string    `json:"last_error,omitempty"`
}

// Status reports the drive's state: whether it writes, and what is not
// yet in the cloud.
func (d *Drive) Status() Status {
	var st Status
	d.t.mu.Lock()
	for _, n := range d.t.nodes {
		if c := n.content; c != nil {
			c.mu.Lock()
			if c.dirty {
				st.PendingBytes += int64(n.attr.Size)
				st.PendingFiles++
			} else {
				st.CachedBytes += c.localBytes(int64(n.attr.Size))
			}
			c.mu.Unlock()
		}
	}
	d.t.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	st.Drive = d.cfg.Keys.Drive().String()
	st.Writer = d.writing
	if !d.writing {
		st.ReadOnlyWhy = d.why
	}
	st.Seq, st.Snapshot, st.LastCommit = d.seq, d.gen, d.lastAt
	if d.lastErr != nil {
		st.LastError = d.lastErr.Error()
	}
	return st
}

// Pending reports whether changes wait to be committed.
func (d *Drive) Pending() bool {
	d.t.mu.Lock()
	defer d.t.mu.Unlock()
	return len(d.t.changed) > 0
}

// DropCache empties the local cache of uploaded contents, keeping what is
// not uploaded and what is open; it returns the bytes given back.
func (d *Drive) DropCache() int64 { return d.shrinkCache(0) }

// evict drops the least recently used clean contents until the cache is
// within CacheBytes.
func (d *Drive) evict() { d.shrinkCache(d.cfg.CacheBytes) }

// shrinkCache drops the local copies of uploaded contents, least recently
// used first, until what stays is within bound; contents not uploaded, and
// open ones, stay. It returns the bytes given back.
func (d *Drive) shrinkCache(bound int64) int64 {
	if d.t.st == nil {
		return 0
	}
	d.t.mu.Lock()
	type item struct {
		c          *content
		size, used int64
	}
	var items []item
	var total int64
	for _, n := range d.t.nodes {
		if c := n.content; c != nil {
			c.mu.Lock()
			if !c.dirty && c.m != nil {
				total += c.localBytes(int64(n.attr.Size))
				items = append(items, item{c, int64(n.attr.Size), c.used})
			}
			c.mu.Unlock()
		}
	}
	d.t.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.used, b.used) })
	var freed int64
	for _, it := range items {
		if total-freed <= bound {
			break
		}
		if n := d.t.dropLocal(it.c, it.size); n > 0 {
			freed += n
			d.t.mu.Lock()
			d.t.dirty[it.c.ino] = struct{}{} // its content state, not a change
			d.t.mu.Unlock()
		}
	}
	return freed
}

// Close stops the background work, commits what is pending (when it
// holds the lease), syncs the state directory and closes it. ctx bounds
// the final commit; if it fails, the changes stay in the state directory
// for the next mount, and Close says so.
func (d *Drive) Close(ctx context.Context) error {
	close(d.stop)
	d.done.Wait()
	var err error
	d.mu.Lock()
	writing := d.writing
	d.mu.Unlock()
	if writing && d.t.st != nil {
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
	if d.t.st != nil {
		err = errors.Join(err, d.t.flush(d.metaClean(true), true))
	}
	return errors.Join(err, d.t.closeState())
}

// Snapshot is one commit of the drive.
type Snapshot struct {
	Gen   uint64    `json:"gen"`
	Time  time.Time `json:"time"`
	Pages int       `json:"pages"`
}

// Snapshots lists the drive's commits, newest first, back to the oldest
// still readable: a commit's objects stay in the cloud at least one shard
// lease term after a newer commit replaced them.
func (d *Drive) Snapshots(ctx context.Context) ([]Snapshot, error) {
	d.mu.Lock()
	ref := d.ref
	d.mu.Unlock()
	var out []Snapshot
	for len(ref) > 0 {
		s, err := d.loadSuper(ctx, ref)
		if err != nil {
			if len(out) == 0 {
				return nil, err
			}
			d.log.Info("fs: older snapshots are gone", "after", out[len(out)-1].Gen, "err", err)
			break
		}
		out = append(out, Snapshot{Gen: s.Gen, Time: s.Time, Pages: len(s.Pages)})
		ref = s.Prev
	}
	return out, nil
}

// Restore makes snapshot gen the drive's current tree again, as a new
// commit whose previous one is the current: nothing is lost, and the
// restore itself can be undone by restoring the commit before it. The
// mount must hold the writer lease; what it has not committed is
// committed first. The tree this mount shows becomes the restored one.
func (d *Drive) Restore(ctx context.Context, gen uint64) error {
	if err := d.Commit(ctx); err != nil {
		return err
	}
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	ref, cur, writing := d.ref, d.gen, d.writing
	d.mu.Unlock()
	if !writing {
		return ErrReadOnly
	}
	_, s, err := d.findSnapshot(ctx, ref, gen)
	if err != nil {
		return err
	}
	d.t.mu.Lock()
	next := max(d.t.next, s.Next)
	d.t.mu.Unlock()
	ns := &super{Gen: cur + 1, Time: d.cfg.Clock(), Next: next, Prev: ref, Pages: s.Pages}
	sms, err := d.upload(ctx, []io.Reader{bytes.NewReader(ns.marshal())})
	if err != nil {
		return fmt.Errorf("fs: upload super: %w", err)
	}
	nref, err := d.sealRef(sms[0])
	if err != nil {
		return err
	}
	if err := d.publish(ctx, nref, ns.Gen); err != nil {
		return err
	}
	if err := d.switchTo(ctx, nref, ns); err != nil {
		return err
	}
	return d.t.flush(d.meta(), true)
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
	root, err := parseRootValue(value)
	if err != nil {
		return nil, fmt.Errorf("fs: the drive's root: %w", err)
	}
	if len(root.Key) == 0 {
		return nil, fmt.Errorf("fs: drive %x keeps no key file in its root: unlock it with its key file", []byte(drive))
	}
	return root.Key, nil
}
