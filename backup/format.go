package backup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// ErrDamaged reports a set's stored record that does not parse or does
// not verify.
var ErrDamaged = errors.New("backup: damaged record")

// The versions written.
const (
	setRootVersion    = 1
	setRootRemoved    = 2 // a set root with removed keys
	writerRootVersion = 1
	logVersion        = 1
	snapshotVersion   = 1
)

// Bounds the parsers enforce.
const (
	maxName      = 255
	maxPaths     = 1 << 12
	maxPath      = 4096
	maxTags      = 64
	maxAppenders = 1 << 10
	maxEntries   = 1 << 24
	maxRef       = 64 << 20
)

// SetRoot is the value of a set's root record, signed by the set's admin
// key (docs/format.md, "Backup sets"):
//
//	version(1) | box public key(32) | admin writer key(32) |
//	appender count | { key(32) | name | wrapped data key }... |
//	forgotten (Ref, empty: none) | pruned (Ref) | archive (Ref) | key file
//	[ removed count (≥ 1) | { key(32) | name }... ]
//
// Version 1 has no removed keys; version 2, the same with the removed
// keys after the key file.
// Names and byte strings are a uvarint length and the bytes.
type SetRoot struct {
	Box       [32]byte // the admin's X25519 key: snapshots are sealed to it
	Admin     [32]byte // the admin's own writer key (Ed25519)
	Appenders []Appender
	// Forgotten is the reference (Ref) of the list of forgotten
	// snapshots; empty when none was ever forgotten.
	Forgotten []byte
	// Pruned is the reference of the prune list: the stripes no snapshot
	// uses, condemned (and when) or released; empty before a prune.
	Pruned []byte
	// Archive is the reference of every log entry the admin key has seen,
	// by writer (encodeArchive), so a writer that drops entries from its
	// own log (an append-only key gone bad) loses nothing: they stay
	// listed, restorable and in use. Empty before the first forget or
	// prune.
	Archive []byte
	// KeyFile is the admin key file, passphrase-wrapped, so any device
	// with the passphrase can unlock the set.
	KeyFile []byte
	// Removed are the append-only keys taken out of the set: the
	// snapshots they had published when they were removed stay, in the
	// archive; nothing they publish after counts.
	Removed []RemovedKey
}

// RemovedKey is an append-only key taken out of a set.
type RemovedKey struct {
	Key  [32]byte
	Name string
}

// Appender is an append-only key of a set: its writer key and the set's
// data key sealed under its own key-wrap key.
type Appender struct {
	Key     [32]byte
	Name    string
	Wrapped []byte
}

// Writers returns the writer keys of the set: the admin's, then the
// appenders'.
func (r *SetRoot) Writers() [][32]byte {
	out := [][32]byte{r.Admin}
	for _, a := range r.Appenders {
		out = append(out, a.Key)
	}
	return out
}

// Marshal encodes r.
func (r *SetRoot) Marshal() []byte {
	v := byte(setRootVersion)
	if len(r.Removed) > 0 {
		v = setRootRemoved
	}
	b := []byte{v}
	b = append(b, r.Box[:]...)
	b = append(b, r.Admin[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.Appenders)))
	for _, a := range r.Appenders {
		b = append(b, a.Key[:]...)
		b = appendBytes(b, []byte(a.Name))
		b = appendBytes(b, a.Wrapped)
	}
	b = appendBytes(b, r.Forgotten)
	b = appendBytes(b, r.Pruned)
	b = appendBytes(b, r.Archive)
	b = appendBytes(b, r.KeyFile)
	if len(r.Removed) > 0 {
		b = binary.AppendUvarint(b, uint64(len(r.Removed)))
		for _, k := range r.Removed {
			b = append(b, k.Key[:]...)
			b = appendBytes(b, []byte(k.Name))
		}
	}
	return b
}

// ParseSetRoot decodes a set root's value.
func ParseSetRoot(b []byte) (*SetRoot, error) {
	r := wire.NewReader(b, ErrDamaged)
	v := r.Byte()
	if r.Err() == nil && v != setRootVersion && v != setRootRemoved {
		r.Fail("set root version %d", v)
	}
	s := &SetRoot{}
	copy(s.Box[:], r.Bytes(32))
	copy(s.Admin[:], r.Bytes(32))
	s.Appenders = make([]Appender, r.Count(maxAppenders, 32+2))
	for i := range s.Appenders {
		a := &s.Appenders[i]
		copy(a.Key[:], r.Bytes(32))
		a.Name = string(r.LenBytes(maxName))
		a.Wrapped = slices.Clone(r.LenBytes(crypt.Overhead + 64))
	}
	s.Forgotten = slices.Clone(r.LenBytes(maxRef))
	s.Pruned = slices.Clone(r.LenBytes(maxRef))
	s.Archive = slices.Clone(r.LenBytes(maxRef))
	s.KeyFile = slices.Clone(r.LenBytes(maxRef))
	if v == setRootRemoved {
		s.Removed = make([]RemovedKey, r.Count(maxAppenders, 32+1))
		for i := range s.Removed {
			k := &s.Removed[i]
			copy(k.Key[:], r.Bytes(32))
			k.Name = string(r.LenBytes(maxName))
		}
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return s, canonical(b, s.Marshal())
}

// WriterRoot is the value of one writer's root record, signed by its
// writer key: version(1) | set ID(16) | log (Ref; empty before the first
// snapshot).
type WriterRoot struct {
	Set crypt.DriveID
	Log []byte
}

// Marshal encodes w.
func (w *WriterRoot) Marshal() []byte {
	b := []byte{writerRootVersion}
	b = append(b, w.Set[:]...)
	return appendBytes(b, w.Log)
}

// ParseWriterRoot decodes a writer root's value.
func ParseWriterRoot(b []byte) (*WriterRoot, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != writerRootVersion {
		r.Fail("writer root version %d", v)
	}
	w := &WriterRoot{}
	copy(w.Set[:], r.Bytes(16))
	w.Log = slices.Clone(r.LenBytes(maxRef))
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return w, canonical(b, w.Marshal())
}

// A Ref names a stored pipeline file: the file's manifest ID and its
// manifest sealed under the set's data keys (pipeline.SealManifest):
// ID(32) | sealed manifest.
type Ref []byte

// makeRef seals m into a Ref.
func makeRef(keys *crypt.Keys, m *pipeline.Manifest) (Ref, error) {
	id, sealed, err := pipeline.SealManifest(keys, m)
	if err != nil {
		return nil, err
	}
	return append(id[:], sealed...), nil
}

// open returns the manifest a Ref names.
func (r Ref) open(keys *crypt.Keys) (*pipeline.Manifest, error) {
	if len(r) < 32 {
		return nil, fmt.Errorf("%w: a reference of %d bytes", ErrDamaged, len(r))
	}
	return pipeline.OpenManifest(keys, pipeline.ManifestID(r[:32]), r[32:])
}

// LogEntry is one snapshot in a writer's log: the snapshot sealed to the
// set's admin box key, and the index segment of the chunks it stored
// (a Ref to a file holding a manifest of them with their keys removed).
type LogEntry struct {
	Box   []byte
	Index Ref
}

// encodeLog encodes a writer's log: version(1) | count | { box | index }...
func encodeLog(es []LogEntry) []byte {
	b := []byte{logVersion}
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = appendBytes(b, e.Box)
		b = appendBytes(b, e.Index)
	}
	return b
}

// encodeArchive encodes the admin's archive of the writers' logs:
// version(1) | writer count | { writer key(32) | log (uvarint len | encodeLog) }...,
// writers sorted by key.
func encodeArchive(a map[[32]byte][]LogEntry) []byte {
	b := []byte{logVersion}
	keys := slices.SortedFunc(maps.Keys(a), func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = append(b, k[:]...)
		b = appendBytes(b, encodeLog(a[k]))
	}
	return b
}

func parseArchive(b []byte) (map[[32]byte][]LogEntry, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != logVersion {
		r.Fail("archive version %d", v)
	}
	n := r.Count(maxAppenders+1, 33)
	out := make(map[[32]byte][]LogEntry, n)
	var last [32]byte
	for i := range n {
		var k [32]byte
		copy(k[:], r.Bytes(32))
		enc := r.LenBytes(maxRef)
		if r.Err() != nil {
			break
		}
		if i > 0 && bytes.Compare(k[:], last[:]) <= 0 {
			r.Fail("archive writers out of order")
			break
		}
		es, err := parseLog(enc)
		if err != nil {
			return nil, err
		}
		out[k], last = es, k
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return out, canonical(b, encodeArchive(out))
}

// parseLog decodes a writer's log.
func parseLog(b []byte) ([]LogEntry, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != logVersion {
		r.Fail("log version %d", v)
	}
	es := make([]LogEntry, r.Count(maxEntries, 2))
	for i := range es {
		es[i].Box = slices.Clone(r.LenBytes(maxRef))
		es[i].Index = slices.Clone(r.LenBytes(maxRef))
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return es, canonical(b, encodeLog(es))
}

// Snapshot is what a snapshot's box holds: when and where it was taken,
// what of, and its tree (the super of a drive commit, fs/format).
type Snapshot struct {
	Time   time.Time
	Host   string
	Paths  []string // the paths backed up, absolute, as given
	Tags   []string
	Parent [32]byte // the snapshot it was taken after (its ID), zero if none
	Stats  Stats
	// Super is the manifest of the stored super (format.Super) of the
	// snapshot's tree, in the pipeline's encoding, chunk keys included.
	Super []byte
}

// Stats are a snapshot's figures.
type Stats struct {
	Files, Dirs, Others uint64 // entries by kind (Others: symlinks, special files)
	Bytes               uint64 // regular files' bytes
	Read                uint64 // bytes read (the rest came unchanged from the parent)
	NewChunks           uint64 // chunks stored by this snapshot
	NewBytes            uint64 // their plaintext bytes
	Errors              uint64 // entries that could not be read (and are not in it)
}

// marshal encodes s: version(1) | time (zigzag ns) | host | paths | tags |
// parent(32) | stats (8 uvarints) | super.
func (s *Snapshot) marshal() []byte {
	b := []byte{snapshotVersion}
	b = binary.AppendVarint(b, s.Time.UnixNano())
	b = appendBytes(b, []byte(s.Host))
	b = appendStrings(b, s.Paths)
	b = appendStrings(b, s.Tags)
	b = append(b, s.Parent[:]...)
	st := s.Stats
	for _, v := range []uint64{st.Files, st.Dirs, st.Others, st.Bytes, st.Read, st.NewChunks, st.NewBytes, st.Errors} {
		b = binary.AppendUvarint(b, v)
	}
	return appendBytes(b, s.Super)
}

// parseSnapshot decodes what a snapshot's box holds.
func parseSnapshot(b []byte) (*Snapshot, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != snapshotVersion {
		r.Fail("snapshot version %d", v)
	}
	s := &Snapshot{}
	var ns int64
	if u := r.Uvarint(1<<64 - 1); r.Err() == nil {
		ns = int64(u>>1) ^ -int64(u&1)
	}
	s.Time = time.Unix(0, ns)
	s.Host = string(r.LenBytes(maxName))
	s.Paths = readStrings(r, maxPaths, maxPath)
	s.Tags = readStrings(r, maxTags, maxName)
	copy(s.Parent[:], r.Bytes(32))
	st := &s.Stats
	for _, p := range []*uint64{&st.Files, &st.Dirs, &st.Others, &st.Bytes, &st.Read, &st.NewChunks, &st.NewBytes, &st.Errors} {
		*p = r.Uvarint(1<<64 - 1)
	}
	s.Super = slices.Clone(r.LenBytes(maxRef))
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if _, err := pipeline.ParseManifest(s.Super); err != nil {
		return nil, fmt.Errorf("%w: the snapshot's super: %w", ErrDamaged, err)
	}
	return s, canonical(b, s.marshal())
}

// canonical refuses an encoding that is not the one its value encodes
// to (a non-minimal varint, for one), so each value has one byte form.
func canonical(b, again []byte) error {
	if !bytes.Equal(b, again) {
		return fmt.Errorf("%w: non-canonical encoding", ErrDamaged)
	}
	return nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendBytes(b, []byte(s))
	}
	return b
}

func readStrings(r *wire.Reader, n, size int) []string {
	out := make([]string, r.Count(n, 1))
	for i := range out {
		out[i] = string(r.LenBytes(size))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
