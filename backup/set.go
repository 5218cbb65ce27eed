package backup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// ErrNoSet reports a set the cloud holds no root for.
var ErrNoSet = errors.New("backup: no such backup set in the cloud")

// Cloud is what a set needs of the cloud: a drive's (fs/drive), which a
// node serves in process and the daemon over its API.
type Cloud = drive.Cloud

// Init makes a new set in cloud, locked with pass, and returns its keys
// (the admin's).
func Init(ctx context.Context, cloud Cloud, pass []byte, kdf crypt.KDFParams) (*Keys, error) {
	mk := crypt.NewMasterKey()
	id := crypt.NewDriveID()
	keys := adminKeys(id, mk)
	kf, err := crypt.NewKeyFile(id, mk, pass, kdf)
	if err != nil {
		return nil, err
	}
	raw, err := kf.MarshalBinary()
	if err != nil {
		return nil, err
	}
	root := &SetRoot{Box: *keys.Set.BoxPublic(), KeyFile: raw}
	copy(root.Admin[:], keys.Writer.PublicKey())
	if err := cloud.PublishRoot(ctx, keys.Set, 1, root.Marshal()); err != nil {
		return nil, fmt.Errorf("backup: publish the new set's root: %w", err)
	}
	return keys, nil
}

// setRoot returns the set's root, checked against its public key.
func setRoot(ctx context.Context, cloud Cloud, public ed25519.PublicKey) (uint64, *SetRoot, error) {
	seq, value, err := cloud.LookupRoot(ctx, public)
	if errors.Is(err, drive.ErrNoRoot) {
		return 0, nil, fmt.Errorf("%w: %x", ErrNoSet, []byte(public))
	}
	if err != nil {
		return 0, nil, fmt.Errorf("backup: look up the set's root: %w", err)
	}
	root, err := ParseSetRoot(value)
	if err != nil {
		return 0, nil, fmt.Errorf("backup: the set's root: %w", err)
	}
	return seq, root, nil
}

// Unlock opens the keys of the set whose public key is public: with the
// key file given (an append-only key's, or the admin's), or with the
// admin key file the set's root keeps, and pass.
func Unlock(ctx context.Context, cloud Cloud, public ed25519.PublicKey, keyFile, pass []byte) (*Keys, error) {
	_, root, err := setRoot(ctx, cloud, public)
	if err != nil {
		return nil, err
	}
	if keyFile == nil {
		keyFile = root.KeyFile
	}
	kf, err := crypt.ParseKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	mk, err := kf.Unlock(pass)
	if err != nil {
		return nil, fmt.Errorf("cannot unlock the backup set: %w", err)
	}
	if k := adminKeys(kf.Drive, mk); k.Public.Equal(public) {
		return k, nil
	}
	return appenderKeys(kf.Drive, public, mk, root)
}

// AddAppender makes a new append-only key called name, locked with pass,
// registers it in the set's root and returns its key file. Only the
// admin key may.
func AddAppender(ctx context.Context, cloud Cloud, keys *Keys, name string, pass []byte, kdf crypt.KDFParams) ([]byte, error) {
	if keys.AppendOnly() {
		return nil, fmt.Errorf("%w: adding a key needs the admin key", ErrAppendOnly)
	}
	if name == "" || len(name) > maxName {
		return nil, fmt.Errorf("backup: a key's name must be 1 to %d bytes", maxName)
	}
	seq, root, err := setRoot(ctx, cloud, keys.Public)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(root.Appenders, func(a Appender) bool { return a.Name == name }) {
		return nil, fmt.Errorf("backup: the set already has a key named %q", name)
	}
	mk := crypt.NewMasterKey()
	ak := mk.Keys(keys.ID)
	kf, err := crypt.NewKeyFile(keys.ID, mk, pass, kdf)
	if err != nil {
		return nil, err
	}
	raw, err := kf.MarshalBinary()
	if err != nil {
		return nil, err
	}
	a := Appender{Name: name, Wrapped: wrapData(ak, keys.data)}
	copy(a.Key[:], ak.PublicKey())
	root.Appenders = append(root.Appenders, a)
	if len(root.Marshal()) > drive.MaxRootValue {
		return nil, fmt.Errorf("backup: the set's root has no room for another key (%d keys)", len(root.Appenders)-1)
	}
	if err := cloud.PublishRoot(ctx, keys.Set, seq+1, root.Marshal()); err != nil {
		return nil, fmt.Errorf("backup: publish the set's root: %w", err)
	}
	return raw, nil
}

// RemoveAppender takes the append-only key name out of the set, as for a
// machine lost or stolen: the key no longer unlocks the set, and nothing
// it publishes from now on is listed, kept or restored. The snapshots it
// had published stay: they are archived first (restorable, forgettable
// like any other). Only the admin key may. The removed machine still
// holds the set's data key, so it can still tell whether the set stores a
// chunk whose plaintext it has (docs/security.md, "Backup sets").
func RemoveAppender(ctx context.Context, cloud Cloud, keys *Keys, name string) error {
	if keys.AppendOnly() {
		return fmt.Errorf("%w: removing a key needs the admin key", ErrAppendOnly)
	}
	seq, root, err := setRoot(ctx, cloud, keys.Public)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(root.Appenders, func(a Appender) bool { return a.Name == name })
	if i < 0 {
		return fmt.Errorf("backup: the set has no key named %q", name)
	}
	ls, err := logsOf(ctx, cloud, keys, root)
	if err != nil {
		return err
	}
	if err := archive(ctx, cloud, keys, root, ls); err != nil {
		return err
	}
	a := root.Appenders[i]
	root.Appenders = slices.Delete(root.Appenders, i, i+1)
	root.Removed = append(root.Removed, RemovedKey{Key: a.Key, Name: a.Name})
	if len(root.Marshal()) > drive.MaxRootValue {
		return fmt.Errorf("backup: the set's root has no room for another removed key (%d)", len(root.Removed))
	}
	if err := cloud.PublishRoot(ctx, keys.Set, seq+1, root.Marshal()); err != nil {
		return fmt.Errorf("backup: publish the set's root: %w", err)
	}
	return nil
}

// KeyInfo is one key of a set, as KeyList lists it.
type KeyInfo struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`   // admin, append-only, removed
	Writer  string `json:"writer"` // its writer key, hex
	Removed bool   `json:"removed,omitempty"`
}

// KeyList lists the set's keys: the admin's, the append-only ones, the
// removed ones.
func KeyList(ctx context.Context, cloud Cloud, keys *Keys) ([]KeyInfo, error) {
	if keys.AppendOnly() {
		return nil, fmt.Errorf("%w: listing the keys needs the admin key", ErrAppendOnly)
	}
	_, root, err := setRoot(ctx, cloud, keys.Public)
	if err != nil {
		return nil, err
	}
	out := []KeyInfo{{Name: "admin", Kind: "admin", Writer: hex.EncodeToString(root.Admin[:])}}
	for _, a := range root.Appenders {
		out = append(out, KeyInfo{Name: a.Name, Kind: "append-only", Writer: hex.EncodeToString(a.Key[:])})
	}
	for _, k := range root.Removed {
		out = append(out, KeyInfo{Name: k.Name, Kind: "removed", Writer: hex.EncodeToString(k.Key[:]), Removed: true})
	}
	return out, nil
}

// SnapshotID names a snapshot: the SHA-256 of its sealed box.
type SnapshotID [32]byte

func (id SnapshotID) String() string { return hex.EncodeToString(id[:]) }

// Short is the ID's first 8 hex digits, as commands print it.
func (id SnapshotID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero ID.
func (id SnapshotID) IsZero() bool { return id == SnapshotID{} }

// writerLog is one writer's published log.
type writerLog struct {
	writer  [32]byte
	seq     uint64 // its root's sequence number; 0 if it has none
	log     Ref    // where its log is stored; nil before its first snapshot
	entries []LogEntry
	// dropped counts the entries the admin's archive holds that the
	// writer's own log no longer does (they are in entries all the same,
	// first).
	dropped int
}

// readFile reads the pipeline file m names.
func readFile(ctx context.Context, cloud store.ShardGetter, keys *crypt.Keys, m *pipeline.Manifest) ([]byte, error) {
	r, err := pipeline.NewReader(ctx, pipeline.Config{Keys: keys}, cloud, m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readLog reads the log of writer, empty if it has published none.
func readLog(ctx context.Context, cloud Cloud, keys *Keys, writer [32]byte) (*writerLog, error) {
	l := &writerLog{writer: writer}
	seq, value, err := cloud.LookupRoot(ctx, ed25519.PublicKey(writer[:]))
	if errors.Is(err, drive.ErrNoRoot) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: look up the log of writer %x: %w", writer[:6], err)
	}
	wr, err := ParseWriterRoot(value)
	if err != nil {
		return nil, fmt.Errorf("backup: the root of writer %x: %w", writer[:6], err)
	}
	if wr.Set != keys.ID {
		return nil, fmt.Errorf("%w: writer %x writes for another set", ErrDamaged, writer[:6])
	}
	l.seq, l.log = seq, wr.Log
	if len(wr.Log) == 0 {
		return l, nil
	}
	m, err := Ref(wr.Log).open(keys.Data)
	if err != nil {
		return nil, fmt.Errorf("backup: the log of writer %x: %w", writer[:6], err)
	}
	b, err := readFile(ctx, cloud, keys.Data, m)
	if err != nil {
		return nil, fmt.Errorf("backup: read the log of writer %x: %w", writer[:6], err)
	}
	if l.entries, err = parseLog(b); err != nil {
		return nil, fmt.Errorf("backup: the log of writer %x: %w", writer[:6], err)
	}
	return l, nil
}

// setState is what a set's root and its writers' logs say, read once.
type setState struct {
	seq  uint64 // the set root's sequence number
	root *SetRoot
	ls   []*writerLog
	gone map[SnapshotID]bool // forgotten
	pl   *pruneList
}

// readState reads the set's root, logs, forgotten snapshots and prune
// list.
func readState(ctx context.Context, cloud Cloud, keys *Keys) (*setState, error) {
	seq, root, err := setRoot(ctx, cloud, keys.Public)
	if err != nil {
		return nil, err
	}
	st := &setState{seq: seq, root: root}
	if st.ls, err = logsOf(ctx, cloud, keys, root); err != nil {
		return nil, err
	}
	if st.gone, err = forgotten(ctx, cloud, keys, root); err != nil {
		return nil, err
	}
	if st.pl, err = readPruneList(ctx, cloud, keys, root); err != nil {
		return nil, err
	}
	return st, nil
}

// logsOf reads the logs of root's writers, with the entries the admin's
// archive keeps that a writer dropped from its own.
func logsOf(ctx context.Context, cloud Cloud, keys *Keys, root *SetRoot) ([]*writerLog, error) {
	arch, err := readArchive(ctx, cloud, keys, root)
	if err != nil {
		return nil, err
	}
	var out []*writerLog
	for _, w := range root.Writers() {
		l, err := readLog(ctx, cloud, keys, w)
		if err != nil {
			return nil, err
		}
		have := map[[32]byte]bool{}
		for _, e := range l.entries {
			have[sha256.Sum256(e.Box)] = true
		}
		var lost []LogEntry
		for _, e := range arch[w] {
			if !have[sha256.Sum256(e.Box)] {
				lost = append(lost, e)
			}
		}
		l.dropped = len(lost)
		l.entries = append(lost, l.entries...)
		out = append(out, l)
	}
	// A removed key's snapshots are what the archive kept of it at its
	// removal; its own log is not read again.
	for _, k := range root.Removed {
		out = append(out, &writerLog{writer: k.Key, entries: arch[k.Key]})
	}
	return out, nil
}

// readArchive returns the admin's archive of the writers' logs.
func readArchive(ctx context.Context, cloud Cloud, keys *Keys, root *SetRoot) (map[[32]byte][]LogEntry, error) {
	if len(root.Archive) == 0 {
		return nil, nil
	}
	m, err := Ref(root.Archive).open(keys.Data)
	if err != nil {
		return nil, fmt.Errorf("backup: the archive of the logs: %w", err)
	}
	b, err := readFile(ctx, cloud, keys.Data, m)
	if err != nil {
		return nil, fmt.Errorf("backup: read the archive of the logs: %w", err)
	}
	return parseArchive(b)
}

// archive stores every writer's entries (ls, as logs returned them) as
// the admin's archive and sets root.Archive to it; the caller publishes
// root.
func archive(ctx context.Context, cloud Cloud, keys *Keys, root *SetRoot, ls []*writerLog) error {
	a := map[[32]byte][]LogEntry{}
	for _, l := range ls {
		if len(l.entries) > 0 {
			a[l.writer] = l.entries
		}
	}
	m, err := pipeline.Write(ctx, pipeline.Config{Keys: keys.Data, Sealing: pipeline.SealContent, Compress: true}, cloud, bytes.NewReader(encodeArchive(a)))
	if err != nil {
		return fmt.Errorf("backup: store the archive of the logs: %w", err)
	}
	root.Archive, err = makeRef(keys.Data, m)
	return err
}

// Listed is a snapshot as Snapshots lists it.
type Listed struct {
	ID SnapshotID
	*Snapshot
	Writer string // the name of the key that wrote it
}

// Snapshots returns the set's snapshots, oldest first. Only the admin key
// can read them.
func Snapshots(ctx context.Context, cloud Cloud, keys *Keys) ([]Listed, error) {
	if keys.AppendOnly() {
		return nil, fmt.Errorf("%w: listing snapshots needs the admin key", ErrAppendOnly)
	}
	state, err := readState(ctx, cloud, keys)
	if err != nil {
		return nil, err
	}
	ls, root, gone := state.ls, state.root, state.gone
	names := map[[32]byte]string{root.Admin: "admin"}
	for _, a := range root.Appenders {
		names[a.Key] = a.Name
	}
	for _, k := range root.Removed {
		names[k.Key] = k.Name + " (removed)"
	}
	var out []Listed
	for _, l := range ls {
		for _, e := range l.entries {
			if gone[sha256.Sum256(e.Box)] {
				continue
			}
			plain, err := keys.Set.OpenBox(e.Box)
			if err != nil {
				return nil, fmt.Errorf("backup: a snapshot of %s: %w", names[l.writer], err)
			}
			s, err := parseSnapshot(plain)
			if err != nil {
				return nil, fmt.Errorf("backup: a snapshot of %s: %w", names[l.writer], err)
			}
			out = append(out, Listed{ID: sha256.Sum256(e.Box), Snapshot: s, Writer: names[l.writer]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Find returns the snapshot whose ID starts with prefix (hex), or
// "latest" for the newest.
func Find(snaps []Listed, prefix string) (*Listed, error) {
	if prefix == "latest" {
		if len(snaps) == 0 {
			return nil, errors.New("backup: the set has no snapshot")
		}
		return &snaps[len(snaps)-1], nil
	}
	var found *Listed
	for i := range snaps {
		if len(prefix) > 0 && len(prefix) <= 64 && hex.EncodeToString(snaps[i].ID[:])[:len(prefix)] == prefix {
			if found != nil {
				return nil, fmt.Errorf("backup: snapshot %q is ambiguous: give more of its ID", prefix)
			}
			found = &snaps[i]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("backup: no snapshot %q in the set", prefix)
	}
	return found, nil
}

// view is what a set stores, as its writers' logs and the set root say:
// the index of the chunks a backup may deduplicate against, and every
// stripe the set keeps, which backups renew and prune weighs.
type view struct {
	idx *pipeline.MemIndex
	// stripes is every stripe a segment lists (every place of every
	// chunk, not only the first the index keeps) and every stripe of the
	// set's own files (logs, segments, the set root's lists), but those
	// the prune list released; condemned ones are in it (a backup that
	// began before they were condemned may use them: they are renewed
	// until a prune releases them).
	stripes map[StripeKey]stripeAt
}

// stripeAt is a stripe and, if known, its holders.
type stripeAt struct {
	d       *erasure.Descriptor
	holders []store.Holder
}

func (v *view) add(m *pipeline.Manifest) {
	for i, d := range m.Stripes {
		k := stripeKey(d)
		if _, ok := v.stripes[k]; ok {
			continue
		}
		at := stripeAt{d: d}
		if m.Holders != nil {
			at.holders = m.Holders[i]
		}
		v.stripes[k] = at
	}
}

// loadView reads every segment of the writers' logs. A stripe the prune
// list pl released is left out (every stripe is one of its own: a backup
// salts each data shard, so content stored again is another stripe); a
// condemned stripe is left out of the index, not of the stripes. pl nil:
// nothing left out.
func loadView(ctx context.Context, cloud Cloud, keys *Keys, ls []*writerLog, root *SetRoot, pl *pruneList) (*view, error) {
	v := &view{idx: pipeline.NewMemIndex(), stripes: map[StripeKey]stripeAt{}}
	for _, ref := range [][]byte{root.Forgotten, root.Pruned, root.Archive} {
		if len(ref) > 0 {
			m, err := Ref(ref).open(keys.Data)
			if err != nil {
				return nil, fmt.Errorf("backup: the set root's files: %w", err)
			}
			v.add(m)
		}
	}
	for _, l := range ls {
		if len(l.log) > 0 {
			m, err := l.log.open(keys.Data)
			if err != nil {
				return nil, fmt.Errorf("backup: the log of writer %x: %w", l.writer[:6], err)
			}
			v.add(m)
		}
		for _, e := range l.entries {
			if len(e.Index) == 0 {
				continue
			}
			m, err := e.Index.open(keys.Data)
			if err != nil {
				return nil, fmt.Errorf("backup: an index segment: %w", err)
			}
			v.add(m)
			b, err := readFile(ctx, cloud, keys.Data, m)
			if err != nil {
				return nil, fmt.Errorf("backup: read an index segment: %w", err)
			}
			seg, err := pipeline.ParseManifest(b)
			if err != nil {
				return nil, fmt.Errorf("backup: an index segment: %w", err)
			}
			keep := make([]bool, len(seg.Stripes))
			live := make([]bool, len(seg.Stripes))
			for j, d := range seg.Stripes {
				k := stripeKey(d)
				released := pl != nil && pl.released[k]
				_, condemned := pl.condemnedAt(k)
				live[j] = !released
				keep[j] = !released && !condemned
				if live[j] {
					at := stripeAt{d: d}
					if seg.Holders != nil {
						at.holders = seg.Holders[j]
					}
					if _, ok := v.stripes[k]; !ok {
						v.stripes[k] = at
					}
				}
			}
			out := &pipeline.Manifest{Stripes: seg.Stripes, Holders: seg.Holders}
			for _, c := range seg.Chunks {
				if keep[c.Stripe] {
					out.Chunks = append(out.Chunks, c)
				}
			}
			v.idx.Add(out)
		}
	}
	return v, nil
}
