package fs

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// What a commit stores in the cloud (docs/drive.md, docs/format.md):
//
//   - pages: the inode records, cut by inode number into pages of
//     PageInodes, each page a file of the pipeline (sealed, erasure-coded,
//     packed with the commit's other small files);
//   - the super: the commit's number and time, the next inode number, the
//     previous commit's super (so every commit is a snapshot, listed by
//     walking back), and the manifest of every page; also a pipeline file;
//   - the root value, in the drive's signed root record: the super's
//     sealed manifest and the writer's lease.
//
// Pages and the super are padded to a multiple of PadTo bytes before they
// are sealed, so their sizes say little about names or counts.

// PageInodes is the number of inode numbers a page covers.
const PageInodes = 256

// PadTo is the bucket sealed metadata is padded to.
const PadTo = 4096

const (
	pageVersion  = 1
	superVersion = 1
	rootVersion  = 1
)

// pad returns b behind its length (8 bytes, big-endian), followed by
// zeros up to a multiple of PadTo.
func pad(b []byte) []byte {
	out := make([]byte, 8+len(b), (8+len(b)+PadTo-1)/PadTo*PadTo)
	binary.BigEndian.PutUint64(out, uint64(len(b)))
	copy(out[8:], b)
	return out[:cap(out)]
}

func unpad(b []byte) ([]byte, error) {
	if len(b) < 8 || len(b)%PadTo != 0 {
		return nil, fmt.Errorf("%w: padded object of %d bytes", ErrDamaged, len(b))
	}
	n := binary.BigEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: padded object claims %d of %d bytes", ErrDamaged, n, len(b)-8)
	}
	return b[8 : 8+n], nil
}

// super is a commit: the drive's whole tree at one time.
type super struct {
	Gen   uint64    // commit number, from 1
	Time  time.Time // when it was made
	Next  Ino       // next inode number
	Prev  []byte    // the previous commit's sealed super reference; empty for the first
	Pages map[uint64][]byte
}

func (s *super) marshal() []byte {
	b := []byte{superVersion}
	b = binary.AppendUvarint(b, s.Gen)
	b = binary.AppendVarint(b, s.Time.UnixNano())
	b = binary.AppendUvarint(b, uint64(s.Next))
	b = binary.AppendUvarint(b, uint64(len(s.Prev)))
	b = append(b, s.Prev...)
	b = binary.AppendUvarint(b, uint64(len(s.Pages)))
	for _, i := range slices.Sorted(maps.Keys(s.Pages)) {
		b = binary.AppendUvarint(b, i)
		b = binary.AppendUvarint(b, uint64(len(s.Pages[i])))
		b = append(b, s.Pages[i]...)
	}
	return pad(b)
}

// ParseSuper decodes a super; exported for fuzzing.
func ParseSuper(b []byte) error {
	_, err := parseSuper(b)
	return err
}

func parseSuper(b []byte) (*super, error) {
	b, err := unpad(b)
	if err != nil {
		return nil, err
	}
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != superVersion {
		r.Fail("super version %d", v)
	}
	s := &super{Gen: r.Uvarint(1<<63 - 1)}
	s.Time = time.Unix(0, varint(r))
	s.Next = Ino(r.Uvarint(maxIno))
	s.Prev = slices.Clone(r.LenBytes(MaxRootValue))
	c := r.Count(1<<40/PageInodes, 2)
	s.Pages = make(map[uint64][]byte, c)
	for range c {
		i := r.Uvarint(maxIno / PageInodes)
		m := r.LenBytes(maxManifestLen)
		if r.Err() == nil {
			if _, err := pipeline.ParseManifest(m); err != nil {
				r.Fail("manifest of page %d: %v", i, err)
			}
		}
		s.Pages[i] = slices.Clone(m)
	}
	r.Done()
	return s, r.Err()
}

// rootValue is what the drive's root record holds.
type rootValue struct {
	Super  []byte    // the super's reference: manifest ID and sealed manifest
	Writer [16]byte  // the mount holding the writer lease
	Until  time.Time // when that lease lapses
	Key    []byte    // the drive's key file (passphrase-wrapped), so any device can unlock it
}

func (v *rootValue) marshal() []byte {
	b := []byte{rootVersion}
	b = binary.AppendUvarint(b, uint64(len(v.Super)))
	b = append(b, v.Super...)
	b = append(b, v.Writer[:]...)
	b = binary.AppendVarint(b, v.Until.UnixMilli())
	b = binary.AppendUvarint(b, uint64(len(v.Key)))
	return append(b, v.Key...)
}

// ParseRootValue decodes a root value; exported for fuzzing.
func ParseRootValue(b []byte) error {
	_, err := parseRootValue(b)
	return err
}

func parseRootValue(b []byte) (*rootValue, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != rootVersion {
		r.Fail("root version %d", v)
	}
	v := &rootValue{Super: slices.Clone(r.LenBytes(MaxRootValue))}
	copy(v.Writer[:], r.Bytes(16))
	v.Until = time.UnixMilli(varint(r))
	v.Key = slices.Clone(r.LenBytes(MaxRootValue))
	r.Done()
	return v, r.Err()
}

// sealRef seals the manifest of a super into a reference: its ID, then the
// sealed bytes.
func (d *Drive) sealRef(m *pipeline.Manifest) ([]byte, error) {
	id, sealed, err := pipeline.SealManifest(d.cfg.Keys, m)
	if err != nil {
		return nil, err
	}
	return append(id[:], sealed...), nil
}

func (d *Drive) openRef(ref []byte) (*pipeline.Manifest, error) {
	var id pipeline.ManifestID
	if len(ref) <= len(id) {
		return nil, fmt.Errorf("%w: super reference of %d bytes", ErrDamaged, len(ref))
	}
	copy(id[:], ref)
	return pipeline.OpenManifest(d.cfg.Keys, id, ref[len(id):])
}

// readFile reads a whole pipeline file from the cloud.
func (d *Drive) readFile(ctx context.Context, m *pipeline.Manifest) ([]byte, error) {
	r, err := pipeline.NewReader(ctx, d.pipe, d.cfg.Cloud, m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(m.Size))
	if _, err := r.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadSuper reads the super a root's reference names.
func (d *Drive) loadSuper(ctx context.Context, ref []byte) (*super, error) {
	m, err := d.openRef(ref)
	if err != nil {
		return nil, fmt.Errorf("fs: open the drive's super: %w", err)
	}
	b, err := d.readFile(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("fs: read the drive's super: %w", err)
	}
	return parseSuper(b)
}

// loadPages reads every inode of a super's pages.
func (d *Drive) loadPages(ctx context.Context, s *super) (map[Ino]*inode, error) {
	nodes := map[Ino]*inode{}
	for i, mb := range s.Pages {
		m, err := pipeline.ParseManifest(mb)
		if err != nil {
			return nil, fmt.Errorf("%w: page %d: %v", ErrDamaged, i, err)
		}
		b, err := d.readFile(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("fs: read page %d: %w", i, err)
		}
		if err := parsePage(b, i, func(n *inode, manifest []byte) error {
			if n.attr.Kind == Regular {
				c, err := newContent(n.attr.Ino, manifest)
				if err != nil {
					return err
				}
				n.content = c
			}
			nodes[n.attr.Ino] = n
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// parsePage decodes page number i, calling fn for each record.
func parsePage(b []byte, i uint64, fn func(n *inode, manifest []byte) error) error {
	b, err := unpad(b)
	if err != nil {
		return err
	}
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != pageVersion {
		r.Fail("page version %d", v)
	}
	c := r.Count(PageInodes, 8)
	for range c {
		n, manifest := parseRecord(r)
		if r.Err() != nil {
			break
		}
		if uint64(n.attr.Ino)/PageInodes != i {
			r.Fail("inode %d in page %d", n.attr.Ino, i)
			break
		}
		if err := fn(n, manifest); err != nil {
			return err
		}
	}
	r.Done()
	return r.Err()
}

// ParsePage decodes a page; exported for fuzzing.
func ParsePage(b []byte, i uint64) error {
	return parsePage(b, i, func(*inode, []byte) error { return nil })
}

// upload stores files through the pipeline in one batch, small ones
// packed together, and returns their manifests.
func (d *Drive) upload(ctx context.Context, files []io.Reader) ([]*pipeline.Manifest, error) {
	if len(files) == 0 {
		return nil, nil
	}
	w, err := pipeline.NewWriter(d.pipe, d.cfg.Cloud)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, err := w.Add(ctx, f); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w.Finish(ctx)
}
