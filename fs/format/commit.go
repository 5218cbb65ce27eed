package format

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// What a commit stores in the cloud (docs/drive.md, docs/format.md):
//
//   - pages: the inode records, cut by inode number into pages of
//     PageInodes, each page a file of the pipeline (sealed, erasure-coded,
//     packed with the commit's other small files);
//   - the super: the commit's number and time, the next inode number, the
//     mount that made it, the previous commit's super (so every commit is
//     a snapshot, listed by walking back), and the manifest of every page;
//     also a pipeline file;
//   - the root value, in the drive's signed root record: the super's
//     sealed manifest and the writer's lease.
//
// Pages and the super are padded to a multiple of PadTo bytes before they
// are sealed, so their sizes say little about names or counts.

// PageInodes is the number of inode numbers a page covers: page i holds
// inodes i*PageInodes to (i+1)*PageInodes-1.
const PageInodes = 256

// PadTo is the bucket sealed metadata is padded to.
const PadTo = 4096

// MaxRootValue bounds a root record's value (node.MaxRootValueLen).
const MaxRootValue = 8 << 10

// The versions written.
const (
	PageVersion  = 1
	SuperVersion = 2
	RootVersion  = 1
)

// PageOf returns the page holding inode ino.
func PageOf(ino fs.Ino) uint64 { return uint64(ino) / PageInodes }

// Pad returns b behind its length (8 bytes, big-endian), followed by
// zeros up to a multiple of PadTo.
func Pad(b []byte) []byte {
	out := make([]byte, 8+len(b), (8+len(b)+PadTo-1)/PadTo*PadTo)
	binary.BigEndian.PutUint64(out, uint64(len(b)))
	copy(out[8:], b)
	return out[:cap(out)]
}

// Unpad returns what Pad padded.
func Unpad(b []byte) ([]byte, error) {
	if len(b) < 8 || len(b)%PadTo != 0 {
		return nil, fmt.Errorf("%w: padded object of %d bytes", fs.ErrDamaged, len(b))
	}
	n := binary.BigEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: padded object claims %d of %d bytes", fs.ErrDamaged, n, len(b)-8)
	}
	return b[8 : 8+n], nil
}

// EncodePage returns page i, padded, holding records (each of an inode of
// page i, each once): version(1) | count | records, sorted by inode.
func EncodePage(i uint64, records []Record) ([]byte, error) {
	slices.SortFunc(records, func(a, b Record) int { return cmp.Compare(a.Attr.Ino, b.Attr.Ino) })
	b := []byte{PageVersion}
	b = binary.AppendUvarint(b, uint64(len(records)))
	for k := range records {
		r := &records[k]
		if PageOf(r.Attr.Ino) != i || (k > 0 && records[k-1].Attr.Ino == r.Attr.Ino) {
			return nil, fmt.Errorf("format: inode %d does not belong in page %d once", r.Attr.Ino, i)
		}
		b = AppendRecord(b, &r.Node, r.Manifest)
	}
	return Pad(b), nil
}

// ParsePage decodes page number i, calling fn for each record.
func ParsePage(b []byte, i uint64, fn func(*Record) error) error {
	b, err := Unpad(b)
	if err != nil {
		return err
	}
	r := wire.NewReader(b, fs.ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != PageVersion {
		r.Fail("page version %d", v)
	}
	c := r.Count(PageInodes, 8)
	last := fs.Ino(0)
	for range c {
		rec := ReadRecord(r)
		if rec == nil {
			break
		}
		if PageOf(rec.Attr.Ino) != i || rec.Attr.Ino <= last {
			r.Fail("inode %d in page %d after %d", rec.Attr.Ino, i, last)
			break
		}
		last = rec.Attr.Ino
		if err := fn(rec); err != nil {
			return err
		}
	}
	r.Done()
	return r.Err()
}

// Super is a commit: the drive's whole tree at one time.
type Super struct {
	Gen  uint64    // commit number, from 1
	Time time.Time // when it was made
	Next fs.Ino    // next inode number
	// Writer is the mount that made the commit (the writer ID of its
	// lease); zero in supers of version 1, which did not record it.
	Writer [16]byte
	Prev   []byte            // the previous commit's sealed super reference; empty for the first
	Pages  map[uint64][]byte // page number -> the page's manifest, in the pipeline's encoding
}

// Marshal encodes s, padded:
// version(1) | gen | time (zigzag ns) | next | writer(16, version 2) |
// prev | page count | { page, manifest }..., pages in order.
func (s *Super) Marshal() []byte {
	b := []byte{SuperVersion}
	b = binary.AppendUvarint(b, s.Gen)
	b = binary.AppendVarint(b, s.Time.UnixNano())
	b = binary.AppendUvarint(b, uint64(s.Next))
	b = append(b, s.Writer[:]...)
	b = binary.AppendUvarint(b, uint64(len(s.Prev)))
	b = append(b, s.Prev...)
	b = binary.AppendUvarint(b, uint64(len(s.Pages)))
	for _, i := range slices.Sorted(maps.Keys(s.Pages)) {
		b = binary.AppendUvarint(b, i)
		b = binary.AppendUvarint(b, uint64(len(s.Pages[i])))
		b = append(b, s.Pages[i]...)
	}
	return Pad(b)
}

// ParseSuper decodes a super of any version; every page's manifest is
// checked to parse.
func ParseSuper(b []byte) (*Super, error) {
	b, err := Unpad(b)
	if err != nil {
		return nil, err
	}
	r := wire.NewReader(b, fs.ErrDamaged)
	v := r.Byte()
	if r.Err() == nil && (v < 1 || v > SuperVersion) {
		r.Fail("super version %d", v)
	}
	s := &Super{Gen: r.Uvarint(1<<63 - 1)}
	s.Time = time.Unix(0, Varint(r))
	s.Next = fs.Ino(r.Uvarint(MaxIno))
	if v >= 2 {
		copy(s.Writer[:], r.Bytes(16))
	}
	s.Prev = slices.Clone(r.LenBytes(MaxRootValue))
	c := r.Count(1<<40/PageInodes, 2)
	s.Pages = make(map[uint64][]byte, c)
	for range c {
		i := r.Uvarint(MaxIno / PageInodes)
		m := r.LenBytes(MaxManifestLen)
		if r.Err() == nil {
			if _, dup := s.Pages[i]; dup {
				r.Fail("page %d named twice", i)
			} else if _, err := pipeline.ParseManifest(m); err != nil {
				r.Fail("manifest of page %d: %v", i, err)
			}
		}
		s.Pages[i] = slices.Clone(m)
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is what the drive's signed root record holds.
type Root struct {
	Super  []byte    // the super's reference: manifest ID and sealed manifest
	Writer [16]byte  // the mount holding the writer lease
	Until  time.Time // when that lease lapses
	Key    []byte    // the drive's key file (passphrase-wrapped), so any device can unlock it
}

// Marshal encodes v: version(1) | super | writer(16) | until (zigzag ms) |
// key.
func (v *Root) Marshal() []byte {
	b := []byte{RootVersion}
	b = binary.AppendUvarint(b, uint64(len(v.Super)))
	b = append(b, v.Super...)
	b = append(b, v.Writer[:]...)
	b = binary.AppendVarint(b, v.Until.UnixMilli())
	b = binary.AppendUvarint(b, uint64(len(v.Key)))
	return append(b, v.Key...)
}

// ParseRoot decodes a root value.
func ParseRoot(b []byte) (*Root, error) {
	r := wire.NewReader(b, fs.ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != RootVersion {
		r.Fail("root version %d", v)
	}
	v := &Root{Super: slices.Clone(r.LenBytes(MaxRootValue))}
	copy(v.Writer[:], r.Bytes(16))
	v.Until = time.UnixMilli(Varint(r))
	v.Key = slices.Clone(r.LenBytes(MaxRootValue))
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return v, nil
}
