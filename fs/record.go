package fs

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"

	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// An inode record is how one inode is stored: in the mount's state
// directory and, sealed inside an inode-table page, in the cloud. Its
// format (docs/format.md):
//
//	version(1) | ino | kind(1) | mode | uid | gid | nlink | size |
//	atime | mtime | ctime (zigzag varints) | parent |
//	xattr count | { name, value }... |
//	directory: entry count | { name, ino }...
//	symlink:   target
//	regular:   manifest (the pipeline's encoding; empty when the file has
//	           no uploaded contents yet)
//
// Numbers are uvarints unless said otherwise, strings and byte strings
// are a uvarint length and the bytes. Entries and xattrs are sorted by
// name, so a record has one encoding.
const recordVersion = 1

// Bounds on what a record may hold, checked by the parser.
const (
	maxEntries     = 1 << 24
	maxXattrs      = 1 << 16
	maxManifestLen = 64 << 20
	maxIno         = 1<<63 - 1
)

// ErrDamaged reports a stored record, page or root that does not parse.
var ErrDamaged = errors.New("fs: damaged record")

// appendRecord appends the record of n, with manifest as a regular file's
// uploaded contents.
func appendRecord(b []byte, n *inode, manifest []byte) []byte {
	a := &n.attr
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(a.Ino))
	b = append(b, byte(a.Kind))
	for _, v := range []uint64{uint64(a.Mode), uint64(a.Uid), uint64(a.Gid), uint64(a.Nlink), a.Size} {
		b = binary.AppendUvarint(b, v)
	}
	for _, v := range []int64{a.Atime, a.Mtime, a.Ctime} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(n.parent))
	b = binary.AppendUvarint(b, uint64(len(n.xattrs)))
	for _, name := range slices.Sorted(maps.Keys(n.xattrs)) {
		b = appendString(b, name)
		b = appendString(b, string(n.xattrs[name]))
	}
	switch a.Kind {
	case Directory:
		b = binary.AppendUvarint(b, uint64(len(n.entries)))
		for _, name := range slices.Sorted(maps.Keys(n.entries)) {
			b = appendString(b, name)
			b = binary.AppendUvarint(b, uint64(n.entries[name]))
		}
	case Symlink:
		b = appendString(b, n.target)
	default:
		b = binary.AppendUvarint(b, uint64(len(manifest)))
		b = append(b, manifest...)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// parseRecord decodes one record from the front of r. A regular file's
// manifest is returned as its encoding, checked to parse; the caller owns
// nothing of r's buffer it did not copy.
func parseRecord(r *wire.Reader) (*inode, []byte) {
	if v := r.Byte(); r.Err() == nil && v != recordVersion {
		r.Fail("record version %d, want %d", v, recordVersion)
	}
	n := &inode{}
	a := &n.attr
	a.Ino = Ino(r.Uvarint(maxIno))
	a.Kind = Kind(r.Byte())
	a.Mode = uint32(r.Uvarint(uint64(ModeMask)))
	a.Uid = uint32(r.Uvarint(1<<32 - 1))
	a.Gid = uint32(r.Uvarint(1<<32 - 1))
	a.Nlink = uint32(r.Uvarint(1<<32 - 1))
	a.Size = r.Uvarint(1<<63 - 1)
	a.Atime, a.Mtime, a.Ctime = varint(r), varint(r), varint(r)
	n.parent = Ino(r.Uvarint(maxIno))
	if r.Err() == nil && (a.Ino == 0 || a.Kind < Regular || a.Kind > Symlink) {
		r.Fail("inode %d of kind %d", a.Ino, a.Kind)
	}
	if c := r.Count(maxXattrs, 2); c > 0 {
		n.xattrs = make(map[string][]byte, c)
		for range c {
			name := string(r.LenBytes(MaxXattrNameLen))
			value := r.LenBytes(MaxXattrValueLen)
			if r.Err() == nil && checkXattrName(name) != nil {
				r.Fail("bad xattr name %q", name)
			}
			n.xattrs[name] = slices.Clone(value)
		}
	}
	var manifest []byte
	switch a.Kind {
	case Directory:
		c := r.Count(maxEntries, 2)
		n.entries = make(map[string]Ino, c)
		for range c {
			name := string(r.LenBytes(MaxNameLen))
			ino := Ino(r.Uvarint(maxIno))
			if r.Err() == nil && (checkName(name) != nil || ino == 0) {
				r.Fail("bad entry %q -> %d", name, ino)
			}
			n.entries[name] = ino
		}
	case Symlink:
		n.target = string(r.LenBytes(MaxSymlinkLen))
		if r.Err() == nil && uint64(len(n.target)) != a.Size {
			r.Fail("symlink of size %d has a target of %d bytes", a.Size, len(n.target))
		}
	case Regular:
		manifest = slices.Clone(r.LenBytes(maxManifestLen))
		if len(manifest) > 0 && r.Err() == nil {
			if _, err := pipeline.ParseManifest(manifest); err != nil {
				r.Fail("manifest of inode %d: %v", a.Ino, err)
			}
		}
	}
	return n, manifest
}

func varint(r *wire.Reader) int64 {
	u := r.Uvarint(1<<64 - 1)
	return int64(u>>1) ^ -int64(u&1)
}

// ParseRecord decodes a whole inode record, for fuzzing and tools.
func ParseRecord(b []byte) (Attr, error) {
	r := wire.NewReader(b, ErrDamaged)
	n, _ := parseRecord(r)
	r.Done()
	if err := r.Err(); err != nil {
		return Attr{}, err
	}
	return n.attr, nil
}
