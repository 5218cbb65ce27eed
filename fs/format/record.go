package format

import (
	"encoding/binary"
	"maps"
	"slices"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// A Record is how one inode is stored: in a mount's state directory and,
// sealed inside an inode-table page, in the cloud. Its encoding
// (docs/format.md):
//
//	version(1) | ino | kind(1) | mode | uid | gid | nlink | size |
//	atime | mtime | ctime (zigzag varints) | parent |
//	xattr count | { name, value }... |
//	directory:    entry count | { name, ino }...
//	symlink:      target
//	regular:      manifest (the pipeline's encoding; empty when the file
//	              has no uploaded contents yet)
//	char, block:  rdev (version 2)
//	fifo, socket: nothing (version 2)
//
// Numbers are uvarints unless said otherwise, strings and byte strings a
// uvarint length and the bytes. Entries and xattrs are sorted by name, so
// a record has one encoding. Version 1 knew only regular files,
// directories and symlinks; it is still read.
type Record struct {
	fs.Node
	// Manifest is a regular file's uploaded contents, in the pipeline's
	// encoding; nil if it has none.
	Manifest []byte
}

// RecordVersion is the version AppendRecord writes.
const RecordVersion = 2

// Bounds on what a record may hold, checked by the parser.
const (
	MaxEntries     = 1 << 24
	MaxXattrs      = 1 << 16
	MaxManifestLen = 64 << 20
	MaxIno         = 1<<63 - 1
)

// AppendRecord appends the encoding of n, with manifest as a regular
// file's uploaded contents.
func AppendRecord(b []byte, n *fs.Node, manifest []byte) []byte {
	a := &n.Attr
	b = append(b, RecordVersion)
	b = binary.AppendUvarint(b, uint64(a.Ino))
	b = append(b, byte(a.Kind))
	for _, v := range []uint64{uint64(a.Mode), uint64(a.Uid), uint64(a.Gid), uint64(a.Nlink), a.Size} {
		b = binary.AppendUvarint(b, v)
	}
	for _, v := range []int64{a.Atime, a.Mtime, a.Ctime} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(n.Parent))
	b = binary.AppendUvarint(b, uint64(len(n.Xattrs)))
	for _, name := range slices.Sorted(maps.Keys(n.Xattrs)) {
		b = appendString(b, name)
		b = appendString(b, string(n.Xattrs[name]))
	}
	switch a.Kind {
	case fs.Directory:
		b = binary.AppendUvarint(b, uint64(len(n.Entries)))
		for _, name := range slices.Sorted(maps.Keys(n.Entries)) {
			b = appendString(b, name)
			b = binary.AppendUvarint(b, uint64(n.Entries[name]))
		}
	case fs.Symlink:
		b = appendString(b, n.Target)
	case fs.Regular:
		b = binary.AppendUvarint(b, uint64(len(manifest)))
		b = append(b, manifest...)
	case fs.CharDevice, fs.BlockDevice:
		b = binary.AppendUvarint(b, uint64(a.Rdev))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadRecord decodes one record from the front of r; on bad input it
// returns nil and r reports why. A regular file's manifest is checked to
// parse. Nothing returned aliases r's buffer.
func ReadRecord(r *wire.Reader) *Record {
	v := r.Byte()
	if r.Err() == nil && (v < 1 || v > RecordVersion) {
		r.Fail("record version %d, want 1 to %d", v, RecordVersion)
	}
	rec := &Record{}
	a := &rec.Attr
	a.Ino = fs.Ino(r.Uvarint(MaxIno))
	a.Kind = fs.Kind(r.Byte())
	a.Mode = uint32(r.Uvarint(uint64(fs.ModeMask)))
	a.Uid = uint32(r.Uvarint(1<<32 - 1))
	a.Gid = uint32(r.Uvarint(1<<32 - 1))
	a.Nlink = uint32(r.Uvarint(1<<32 - 1))
	a.Size = r.Uvarint(1<<63 - 1)
	a.Atime, a.Mtime, a.Ctime = Varint(r), Varint(r), Varint(r)
	rec.Parent = fs.Ino(r.Uvarint(MaxIno))
	maxKind := fs.MaxKind
	if v == 1 {
		maxKind = fs.Symlink
	}
	if r.Err() == nil && (a.Ino == 0 || a.Kind < fs.Regular || a.Kind > maxKind) {
		r.Fail("inode %d of kind %d", a.Ino, a.Kind)
	}
	if c := r.Count(MaxXattrs, 2); c > 0 {
		rec.Xattrs = make(map[string][]byte, c)
		for range c {
			name := string(r.LenBytes(fs.MaxXattrNameLen))
			value := r.LenBytes(fs.MaxXattrValueLen)
			if r.Err() == nil && fs.CheckXattrName(name) != nil {
				r.Fail("bad xattr name %q", name)
			}
			rec.Xattrs[name] = slices.Clone(value)
		}
	}
	switch a.Kind {
	case fs.Directory:
		c := r.Count(MaxEntries, 2)
		rec.Entries = make(map[string]fs.Ino, c)
		for range c {
			name := string(r.LenBytes(fs.MaxNameLen))
			ino := fs.Ino(r.Uvarint(MaxIno))
			if r.Err() == nil && (fs.CheckName(name) != nil || ino == 0) {
				r.Fail("bad entry %q -> %d", name, ino)
			}
			rec.Entries[name] = ino
		}
	case fs.Symlink:
		rec.Target = string(r.LenBytes(fs.MaxSymlinkLen))
		if r.Err() == nil && uint64(len(rec.Target)) != a.Size {
			r.Fail("symlink of size %d has a target of %d bytes", a.Size, len(rec.Target))
		}
	case fs.Regular:
		rec.Manifest = slices.Clone(r.LenBytes(MaxManifestLen))
		if len(rec.Manifest) == 0 {
			rec.Manifest = nil
		} else if r.Err() == nil {
			if _, err := pipeline.ParseManifest(rec.Manifest); err != nil {
				r.Fail("manifest of inode %d: %v", a.Ino, err)
			}
		}
	case fs.CharDevice, fs.BlockDevice:
		a.Rdev = uint32(r.Uvarint(1<<32 - 1))
	}
	if r.Err() == nil && a.Kind != fs.Regular && a.Kind != fs.Symlink && a.Size != 0 {
		r.Fail("%s inode %d of size %d", a.Kind, a.Ino, a.Size)
	}
	if r.Err() != nil {
		return nil
	}
	return rec
}

// Varint reads a zigzag varint.
func Varint(r *wire.Reader) int64 {
	u := r.Uvarint(1<<64 - 1)
	return int64(u>>1) ^ -int64(u&1)
}

// ParseRecord decodes b, which must hold exactly one record.
func ParseRecord(b []byte) (*Record, error) {
	r := wire.NewReader(b, fs.ErrDamaged)
	rec := ReadRecord(r)
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return rec, nil
}
