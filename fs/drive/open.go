package drive

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"
)

// How a mount decides what its state directory is worth against the
// cloud (docs/drive.md, "One writer, several devices"). It reads what the
// drive's roots say, not only its own bookkeeping:
//
//   - A commit the state recorded as about to be published (its intent)
//     that the cloud's chain of commits holds was published: the state
//     is at it.
//   - The cloud's root names the commit the state is at: the state is
//     current.
//   - The cloud shows an older root than the state has seen (a lookup
//     that missed the newest, peers withholding it): the state is kept,
//     never rolled back.
//   - The cloud moved on: a state with nothing uncommitted is cleared and
//     the tree loaded from the cloud; one with uncommitted changes keeps
//     them, read-only, never merged. The chain of commits is walked back
//     to the state's own to say why: each super names the mount that made
//     it.
//
// A commit is recorded in the state, synced, before its root is
// published, so a mount that crashed finds its last commit as its intent,
// and is never "behind" its own commits.

// maxChainWalk bounds how far back the open walks the chain of commits to
// find the state's own.
const maxChainWalk = 10_000

func (d *Drive) open(ctx context.Context) error {
	cfg := d.cfg
	seq, value, err := cfg.Cloud.LookupRoot(ctx, cfg.Keys.PublicKey())
	if errors.Is(err, ErrNoRoot) {
		return fmt.Errorf("%w: %s (make it with `murmur drive create`)", ErrNoDrive, cfg.Keys.Drive())
	}
	if err != nil {
		return err
	}
	root, err := format.ParseRoot(value)
	if err != nil {
		return fmt.Errorf("fs: the drive's root: %w", err)
	}
	if cfg.Snapshot != 0 {
		return d.openSnapshot(ctx, root)
	}
	if cfg.StateDir == "" {
		d.st, err = state.OpenTemp(d.stateOptions())
	} else {
		d.st, err = state.Open(cfg.StateDir, d.stateOptions())
	}
	if err != nil {
		return err
	}
	if err := d.newTree(); err != nil {
		return err
	}
	local, err := d.localMeta()
	if err != nil {
		return err
	}
	if local != nil {
		d.writer = local.Writer
	} else if _, err := rand.Read(d.writer[:]); err != nil {
		return err
	}

	readOnly := cfg.ReadOnly
	d.seq = seq
	if local == nil {
		if err := d.loadRoot(ctx, root.Super); err != nil {
			return err
		}
	} else if err := d.reconcile(ctx, local, seq, root, &readOnly); err != nil {
		return err
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
	d.t.SetReadOnly(readOnly)
	return d.save(d.meta(false, nil), true)
}

// localMeta returns the state directory's metadata, nil if it has none.
func (d *Drive) localMeta() (*meta, error) {
	b, err := d.st.Meta()
	if err != nil {
		return nil, fmt.Errorf("fs: read state: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	local, err := parseMeta(b)
	if err != nil {
		return nil, fmt.Errorf("fs: state directory %s: %w", d.cfg.StateDir, err)
	}
	if local.Drive != d.cfg.Keys.Drive() {
		return nil, fmt.Errorf("fs: state directory %s belongs to drive %s, not %s", d.cfg.StateDir, local.Drive, d.cfg.Keys.Drive())
	}
	return local, nil
}

// reconcile decides, by the rules above, what the tree is: the state's,
// or the cloud's root; and whether the mount must be read-only.
func (d *Drive) reconcile(ctx context.Context, local *meta, seq uint64, root *format.Root, readOnly *bool) error {
	publishing := local.Pending != nil
	var unresolved error // why the intent could not be looked for
	if p := local.Pending; p != nil && !bytes.Equal(p.Ref, local.Ref) {
		found, _, err := d.onChain(ctx, root.Super, p.Ref, p.Gen)
		switch {
		case err != nil:
			// Not known: kept, so that a later open looks again.
			unresolved = err
			d.unresolved = p
			d.log.Warn("fs: could not tell whether the last commit was published; the state keeps it as pending", "commit", p.Gen, "err", err)
		case found:
			d.log.Info("fs: the commit this mount was publishing when it stopped is in the cloud", "commit", p.Gen)
			local.Ref, local.Gen, local.Epoch = p.Ref, p.Gen, p.Epoch
		}
	}
	// A mount that will not write needs no super to commit on.
	needSuper := !d.cfg.ReadOnly
	switch {
	case bytes.Equal(local.Ref, root.Super):
		return d.useState(ctx, local, needSuper)
	case local.Seq > seq:
		d.log.Warn("fs: the cloud shows an older root than this mount saw; keeping the newer state", "cloud", seq, "state", local.Seq)
		if err := d.useState(ctx, local, needSuper); err != nil {
			return err
		}
		d.seq = local.Seq
		return nil
	case unresolved != nil:
		// Whether the cloud moved on past this mount's own last commit
		// or another device's cannot be told: say so, change nothing.
		return fmt.Errorf("fs: could not read the drive's commits to tell whether this mount's last commit (%d) was published; nothing was changed, mount again once the cloud answers: %w", local.Pending.Gen, unresolved)
	}
	s, serr := d.loadSuper(ctx, root.Super)
	if serr != nil && publishing {
		// Whether the root is this mount's unconfirmed commit cannot be
		// told: as above.
		d.unresolved = local.Pending
		return fmt.Errorf("fs: could not read the drive's newest commit to tell whether it is this mount's last (%d); nothing was changed, mount again once the cloud answers: %w", local.Pending.Gen, serr)
	}
	if serr == nil && publishing && s.Writer == d.writer && bytes.Equal(s.Prev, local.Ref) {
		// The root is this mount's own commit made on the state's, whose
		// answer it never heard (a lost answer, and a later commit that
		// failed): the state holds every change it holds, still to
		// commit, so the state is at it.
		d.log.Info("fs: the cloud's root is this mount's commit whose publish was not confirmed", "commit", s.Gen)
		local.Ref, local.Gen, local.Seq = root.Super, s.Gen, seq
		return d.useState(ctx, local, needSuper)
	}
	if serr == nil {
		if found, _, err := d.onChain(ctx, local.Ref, root.Super, s.Gen); err == nil && found {
			// The cloud's root is an ancestor of the state's commit: a
			// stale answer, whoever made it. Never roll back.
			d.log.Warn("fs: the cloud shows a commit older than this mount's; keeping the newer state", "cloud", s.Gen, "state", local.Gen)
			if err := d.useState(ctx, local, needSuper); err != nil {
				return err
			}
			d.seq = max(local.Seq, seq)
			return nil
		}
	}
	l, err := d.st.Load()
	if err != nil {
		return err
	}
	if !hasChanges(l, local.Epoch) {
		// Behind the cloud's commits, with nothing of its own: the cloud's
		// tree is the drive's, whoever made it.
		if err := d.st.Clear(); err != nil {
			return err
		}
		d.unresolved = nil
		return d.loadRoot(ctx, root.Super)
	}
	// Kept read-only: it never commits, so the super of its commit is
	// not needed, and one that cannot be read keeps nothing from showing.
	if err := d.useState(ctx, local, false); err != nil {
		return err
	}
	*readOnly, d.frozen = true, true
	if publishing {
		d.unresolved = local.Pending // for a later open to look at again
	}
	found, ours, err := d.onChain(ctx, root.Super, local.Ref, local.Gen)
	switch {
	case err != nil:
		d.log.Warn("fs: could not walk the drive's commits back to this state's", "err", err)
		d.why = fmt.Sprintf("the drive's commits since this mount's last could not be read (%v), and this mount has changes it never committed; they are kept in %s (mounted read-only; mount again to look once more)", err, d.cfg.StateDir)
	case !found || !ours:
		d.why = fmt.Sprintf("the drive changed on another device since this mount's last commit, and this mount has changes it never committed; they are kept in %s (mounted read-only, as it was before)", d.cfg.StateDir)
	default:
		// Commits of this mount's own that its state never recorded: a
		// commit is recorded, synced, before its root goes out, so this
		// is a state copied or restored from an older backup. Which of
		// its changes those commits hold is not known: keep them, apart.
		d.why = fmt.Sprintf("the cloud holds commits of this mount's that its state directory %s does not know (was it restored from a backup?); its uncommitted changes are kept there, and the mount is read-only", d.cfg.StateDir)
	}
	return nil
}

// useState makes the tree the state directory's, at the commit local
// says. The next commit names every page it does not rewrite by the
// manifests that commit's super holds: with needSuper, a super that
// cannot be read fails the open; without (a state that never commits),
// it is only logged.
func (d *Drive) useState(ctx context.Context, local *meta, needSuper bool) error {
	if err := d.loadState(local); err != nil {
		return err
	}
	d.gen, d.ref, d.epoch = local.Gen, local.Ref, local.Epoch
	s, err := d.loadSuper(ctx, local.Ref)
	switch {
	case err == nil:
		d.pages = s.Pages
	case needSuper:
		return fmt.Errorf("fs: the super of commit %d, which the state is at: %w", local.Gen, err)
	default:
		d.log.Warn("fs: the super of the commit this state is at cannot be read; the state shows its own tree, read-only", "commit", local.Gen, "err", err)
	}
	return nil
}

// hasChanges reports whether a loaded state holds changes not committed
// by the commit of epoch: records of later epochs, contents not uploaded.
func hasChanges(l *state.Loaded, epoch uint64) bool {
	for _, e := range l.Epochs {
		if e > epoch {
			return true
		}
	}
	for _, f := range l.Files {
		if dirty, _ := f.(*state.File).Dirty(); dirty {
			return true
		}
	}
	return false
}

// onChain walks the chain of commits back from the super head names and
// reports whether it reaches ref (commit gen), and whether every commit
// after it was made by this mount.
func (d *Drive) onChain(ctx context.Context, head, ref []byte, gen uint64) (found, ours bool, err error) {
	ours = true
	for range maxChainWalk {
		if bytes.Equal(head, ref) {
			return true, ours, nil
		}
		if len(head) == 0 {
			return false, false, nil
		}
		s, err := d.loadSuper(ctx, head)
		if err != nil {
			return false, false, err
		}
		if s.Gen <= gen {
			return false, false, nil
		}
		ours = ours && s.Writer == d.writer
		head = s.Prev
	}
	return false, false, nil
}

// loadState makes the tree the one the state directory holds: changed
// are the inodes saved with an epoch after the one the state's commit
// covers, and files whose contents were not uploaded. After a crash the
// local blocks of uploaded contents are distrusted, and the cache files
// of the others are synced by the next sync (the open's own) before the
// journal.
func (d *Drive) loadState(local *meta) error {
	l, err := d.st.Load()
	if err != nil {
		return err
	}
	changed := map[fs.Ino]uint64{}
	for ino, e := range l.Epochs {
		if e > local.Epoch {
			changed[ino] = e
		}
	}
	for ino, f := range l.Files {
		sf := f.(*state.File)
		if dirty, _ := sf.Dirty(); dirty {
			changed[ino] = max(changed[ino], local.Epoch+1) // not uploaded before the stop
			if !local.Clean {
				// The crashed process's writes may be in the page
				// cache only: synced before the journal is again.
				sf.Unsynced()
			}
		} else if !local.Clean {
			sf.Distrust()
		}
	}
	return d.t.Load(l.Nodes, l.Files, changed, local.Next, local.Epoch)
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
// reference is ref; every inode is saved to the state.
func (d *Drive) loadCommit(ctx context.Context, ref []byte, s *format.Super) error {
	nodes, manifests, err := d.loadPages(ctx, s)
	if err != nil {
		return err
	}
	files := map[fs.Ino]fs.File{}
	for ino, m := range manifests {
		if files[ino], err = d.st.NewBase(ino, m); err != nil {
			return err
		}
	}
	if err := d.t.Load(nodes, files, nil, s.Next, 0); err != nil {
		return err
	}
	inos := make([]fs.Ino, 0, len(nodes))
	for ino := range nodes {
		inos = append(inos, ino)
	}
	d.t.MarkDirty(inos...)
	d.mu.Lock()
	d.ref, d.gen, d.pages = ref, s.Gen, s.Pages
	d.epoch = 0
	d.mu.Unlock()
	return nil
}

// openSnapshot mounts commit number cfg.Snapshot, read-only.
func (d *Drive) openSnapshot(ctx context.Context, root *format.Root) error {
	ref, s, err := d.findSnapshot(ctx, root.Super, d.cfg.Snapshot)
	if err != nil {
		return err
	}
	if d.st, err = state.OpenTemp(d.stateOptions()); err != nil {
		return err
	}
	if err := d.newTree(); err != nil {
		return err
	}
	d.why = fmt.Sprintf("snapshot %d", d.cfg.Snapshot)
	d.t.SetReadOnly(true)
	return d.loadCommit(ctx, ref, s)
}

// findSnapshot walks back from the commit ref names to commit gen, and
// returns its reference and super.
func (d *Drive) findSnapshot(ctx context.Context, ref []byte, gen uint64) ([]byte, *format.Super, error) {
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
