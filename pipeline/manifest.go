package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/store"
)

// Manifest versions, the first byte of a manifest's plaintext encoding.
// Version 2 adds holder hints; a manifest without them is written as
// version 1, byte for byte as before.
const (
	ManifestV1 byte = 1
	ManifestV2 byte = 2
	// ManifestV3 adds per-chunk flags: a compressed chunk's stored
	// length, a chunk's own sealing key.
	ManifestV3 byte = 3
)

const (
	// MaxChunkSize bounds one chunk's plaintext in a manifest.
	MaxChunkSize = erasure.MaxShardSize - crypt.Overhead
	// MaxFileSize bounds the size a manifest may claim (1 PiB).
	MaxFileSize = 1 << 50
	maxEntries  = 1 << 30
)

// ErrManifest reports a malformed or inconsistent manifest.
var ErrManifest = errors.New("pipeline: malformed manifest")

// ManifestID names a manifest: the keyed BLAKE3 of its plaintext encoding
// under the drive's object-ID key.
type ManifestID chunk.ID

// String returns the ID in lowercase hex.
func (id ManifestID) String() string { return chunk.ID(id).String() }

// ParseManifestID parses the hex form of a manifest ID.
func ParseManifestID(s string) (ManifestID, error) {
	id, err := chunk.ParseID(s)
	return ManifestID(id), err
}

// Manifest records how one file was stored.
type Manifest struct {
	Size    int64
	Chunks  []ChunkRef
	Stripes []*erasure.Descriptor // the stripes the chunks lie in

	// Holders, when not nil, hints where each shard was stored:
	// Holders[i][j] for Stripes[i].Shards[j], "" when unknown or for an
	// empty slot. Hints let a reader go straight to a shard's holder; a
	// shard that has moved since is still found, at the cost of a lookup.
	Holders [][]store.Holder
}

// ChunkRef locates one chunk of a file.
type ChunkRef struct {
	ID     chunk.ID
	Size   int // plaintext bytes
	Stripe int // index into Manifest.Stripes
	Shard  int // data shard of that stripe holding the sealed chunk
	Offset int // where the sealed chunk starts in the shard
	// Stored is the sealed chunk's length when it was compressed (zstd)
	// before sealing: its compressed length plus crypt.Overhead, less
	// than Size plus the overhead. 0: the chunk is stored whole.
	Stored int
	// Key, unless zero, is the chunk's own sealing key (Config.Sealing
	// SealContent: crypt.Sealer.SealKeyed).
	Key [32]byte
}

// SealedSize returns the sealed chunk's length.
func (c ChunkRef) SealedSize() int {
	if c.Stored > 0 {
		return c.Stored
	}
	return c.Size + crypt.Overhead
}

// Compressed reports whether the chunk was compressed before sealing.
func (c ChunkRef) Compressed() bool { return c.Stored > 0 }

// Keyed reports whether the chunk is sealed under its own key.
func (c ChunkRef) Keyed() bool { return c.Key != [32]byte{} }

// The flags of a chunk in a version 3 manifest.
const (
	chunkCompressed = 1 << iota
	chunkKeyed
	chunkFlags = chunkCompressed | chunkKeyed
)

func (c ChunkRef) flags() byte {
	var f byte
	if c.Compressed() {
		f |= chunkCompressed
	}
	if c.Keyed() {
		f |= chunkKeyed
	}
	return f
}

// Validate checks that every chunk lies inside a data shard of a valid
// stripe and that the sizes add up.
func (m *Manifest) Validate() error {
	if m.Size < 0 || m.Size > MaxFileSize {
		return fmt.Errorf("%w: size %d out of range", ErrManifest, m.Size)
	}
	// A shard ID names bytes, so it has one size wherever it appears: the
	// reader caches shards by ID and relies on it.
	sizes := make(map[erasure.ShardID]int)
	for i, d := range m.Stripes {
		if d == nil {
			return fmt.Errorf("%w: stripe %d missing", ErrManifest, i)
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: stripe %d: %w", ErrManifest, i, err)
		}
		for j, sh := range d.Shards {
			if n, ok := sizes[sh.ID]; ok && n != sh.Size {
				return fmt.Errorf("%w: stripe %d shard %d: ID %s appears with sizes %d and %d", ErrManifest, i, j, sh.ID.Short(), n, sh.Size)
			}
			sizes[sh.ID] = sh.Size
		}
	}
	var total int64
	for i, c := range m.Chunks {
		if c.Size < 1 || c.Size > MaxChunkSize {
			return fmt.Errorf("%w: chunk %d has size %d", ErrManifest, i, c.Size)
		}
		if c.Stored != 0 && (c.Stored <= crypt.Overhead || c.Stored >= c.Size+crypt.Overhead) {
			return fmt.Errorf("%w: chunk %d of %d bytes stored compressed in %d", ErrManifest, i, c.Size, c.Stored)
		}
		if c.Stripe < 0 || c.Stripe >= len(m.Stripes) {
			return fmt.Errorf("%w: chunk %d names stripe %d of %d", ErrManifest, i, c.Stripe, len(m.Stripes))
		}
		d := m.Stripes[c.Stripe]
		if c.Shard < 0 || c.Shard >= d.K {
			return fmt.Errorf("%w: chunk %d names shard %d, not a data shard of k=%d", ErrManifest, i, c.Shard, d.K)
		}
		if c.Offset < 0 || c.Offset > erasure.MaxShardSize || c.Offset+c.SealedSize() > d.Shards[c.Shard].Size {
			return fmt.Errorf("%w: chunk %d at %d+%d overruns its %d-byte shard", ErrManifest, i, c.Offset, c.SealedSize(), d.Shards[c.Shard].Size)
		}
		total += int64(c.Size)
	}
	if total != m.Size {
		return fmt.Errorf("%w: chunks add up to %d bytes, size is %d", ErrManifest, total, m.Size)
	}
	if m.Holders == nil {
		return nil
	}
	if len(m.Holders) != len(m.Stripes) {
		return fmt.Errorf("%w: holder hints for %d stripes of %d", ErrManifest, len(m.Holders), len(m.Stripes))
	}
	for i, hs := range m.Holders {
		d := m.Stripes[i]
		if len(hs) != len(d.Shards) {
			return fmt.Errorf("%w: stripe %d: holder hints for %d shards of %d", ErrManifest, i, len(hs), len(d.Shards))
		}
		for j, h := range hs {
			if len(h) > store.MaxHolderLen {
				return fmt.Errorf("%w: stripe %d shard %d: holder of %d bytes", ErrManifest, i, j, len(h))
			}
			if h != "" && !d.Stored(j) {
				return fmt.Errorf("%w: stripe %d shard %d: a holder for an empty slot", ErrManifest, i, j)
			}
		}
	}
	return nil
}

// AppendBinary appends the manifest's plaintext encoding to b:
//
//	version(1) | uvarint Size
//	| uvarint #stripes | #stripes × (uvarint len | descriptor)
//	| uvarint #chunks  | #chunks × (ID(32) | uvarint Size | uvarint Stripe | uvarint Shard | uvarint Offset
//	                     [version 3 only: | flags(1) [| uvarint Stored (flag 1)] [| Key(32) (flag 2)]])
//	[version 2, and version 3 with flag 1 of its header:
//	| uvarint #holders | #holders × (uvarint len | name)
//	| for each stripe, for each of its shards: uvarint holder index + 1 (0: none)]
//
// Version 3 has a flags byte after the version (1: holders follow). It
// is written when a chunk is compressed or has its own key; otherwise
// version 1 when Holders is nil, version 2 if not, so older manifests
// keep their bytes. The holder table lists each distinct holder once, in
// order of first use, so the encoding stays canonical.
func (m *Manifest) AppendBinary(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	version := ManifestV1
	if m.Holders != nil {
		version = ManifestV2
	}
	if slices.ContainsFunc(m.Chunks, func(c ChunkRef) bool { return c.flags() != 0 }) {
		version = ManifestV3
	}
	b = append(b, version)
	if version == ManifestV3 {
		var f byte
		if m.Holders != nil {
			f = 1
		}
		b = append(b, f)
	}
	b = binary.AppendUvarint(b, uint64(m.Size))
	b = binary.AppendUvarint(b, uint64(len(m.Stripes)))
	var err error
	for _, d := range m.Stripes {
		var enc []byte
		if enc, err = d.MarshalBinary(); err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = append(b, c.ID[:]...)
		for _, v := range [...]int{c.Size, c.Stripe, c.Shard, c.Offset} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		if version == ManifestV3 {
			f := c.flags()
			b = append(b, f)
			if f&chunkCompressed != 0 {
				b = binary.AppendUvarint(b, uint64(c.Stored))
			}
			if f&chunkKeyed != 0 {
				b = append(b, c.Key[:]...)
			}
		}
	}
	if m.Holders != nil {
		b = m.appendHolders(b)
	}
	return b, nil
}

func (m *Manifest) appendHolders(b []byte) []byte {
	index := map[store.Holder]int{}
	var table []store.Holder
	for _, hs := range m.Holders {
		for _, h := range hs {
			if _, ok := index[h]; !ok && h != "" {
				index[h] = len(table)
				table = append(table, h)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(table)))
	for _, h := range table {
		b = binary.AppendUvarint(b, uint64(len(h)))
		b = append(b, h...)
	}
	for _, hs := range m.Holders {
		for _, h := range hs {
			ref := 0
			if h != "" {
				ref = index[h] + 1
			}
			b = binary.AppendUvarint(b, uint64(ref))
		}
	}
	return b
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m *Manifest) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// ParseManifest decodes a manifest's plaintext encoding. Only the canonical
// encoding of a valid manifest is accepted.
func ParseManifest(b []byte) (*Manifest, error) {
	r := wire.NewReader(b, ErrManifest)
	v := r.Byte()
	if r.Err() == nil && (v < ManifestV1 || v > ManifestV3) {
		return nil, fmt.Errorf("%w: unknown version %d", ErrManifest, v)
	}
	hinted := v == ManifestV2
	if v == ManifestV3 {
		switch f := r.Byte(); {
		case f == 1:
			hinted = true
		case f != 0 && r.Err() == nil:
			r.Fail("manifest flags %#x", f)
		}
	}
	m := &Manifest{Size: int64(r.Uvarint(MaxFileSize))}
	m.Stripes = make([]*erasure.Descriptor, r.Count(maxEntries, 1+1+33*2))
	for i := range m.Stripes {
		enc := r.LenBytes(r.Len())
		if r.Err() != nil {
			return nil, r.Err()
		}
		d, err := erasure.ParseDescriptor(enc)
		if err != nil {
			return nil, fmt.Errorf("%w: stripe %d: %w", ErrManifest, i, err)
		}
		m.Stripes[i] = d
	}
	m.Chunks = make([]ChunkRef, r.Count(maxEntries, 32+4))
	for i := range m.Chunks {
		c := &m.Chunks[i]
		copy(c.ID[:], r.Bytes(32))
		c.Size = r.Int(MaxChunkSize)
		c.Stripe = r.Int(maxEntries)
		c.Shard = r.Int(erasure.MaxShards)
		c.Offset = r.Int(erasure.MaxShardSize)
		if v == ManifestV3 {
			f := r.Byte()
			if f&^chunkFlags != 0 && r.Err() == nil {
				r.Fail("chunk %d flags %#x", i, f)
			}
			if f&chunkCompressed != 0 {
				c.Stored = r.Int(MaxChunkSize + crypt.Overhead)
			}
			if f&chunkKeyed != 0 {
				copy(c.Key[:], r.Bytes(32))
				if !c.Keyed() && r.Err() == nil {
					r.Fail("chunk %d has a zero key", i)
				}
			}
		}
	}
	if hinted && r.Err() == nil {
		table := make([]store.Holder, r.Count(maxEntries, 1))
		for i := range table {
			table[i] = store.Holder(r.LenBytes(store.MaxHolderLen))
		}
		m.Holders = make([][]store.Holder, len(m.Stripes))
		for i, d := range m.Stripes {
			m.Holders[i] = make([]store.Holder, len(d.Shards))
			for j := range m.Holders[i] {
				if ref := r.Int(len(table)); ref > 0 {
					m.Holders[i][j] = table[ref-1]
				}
			}
		}
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	canon, err := m.AppendBinary(make([]byte, 0, len(b)))
	if err != nil {
		return nil, err
	}
	if string(canon) != string(b) {
		return nil, fmt.Errorf("%w: non-canonical encoding", ErrManifest)
	}
	return m, nil
}

// SealManifest encodes and seals m with the drive's manifest key and
// returns its ID and sealed bytes.
func SealManifest(keys *crypt.Keys, m *Manifest) (ManifestID, []byte, error) {
	plain, err := m.MarshalBinary()
	if err != nil {
		return ManifestID{}, nil, err
	}
	id := ManifestID(chunk.NewHasher(keys.ObjectIDKey()).Sum(plain))
	return id, keys.Sealer(crypt.PurposeManifest).Seal(nil, id[:], plain), nil
}

// OpenManifest authenticates, decrypts and decodes a sealed manifest. A
// sealed manifest of another drive, another ID or with any byte changed
// fails with an error matching crypt.ErrAuth.
func OpenManifest(keys *crypt.Keys, id ManifestID, sealed []byte) (*Manifest, error) {
	plain, err := keys.Sealer(crypt.PurposeManifest).Open(nil, id[:], sealed)
	if err != nil {
		return nil, fmt.Errorf("open manifest %s: %w", id, err)
	}
	return ParseManifest(plain)
}
