package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// ManifestVersion is the first byte of a manifest's plaintext encoding.
const ManifestVersion byte = 1

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
}

// ChunkRef locates one chunk of a file.
type ChunkRef struct {
	ID     chunk.ID
	Size   int // plaintext bytes
	Stripe int // index into Manifest.Stripes
	Shard  int // data shard of that stripe holding the sealed chunk
	Offset int // where the sealed chunk starts in the shard
}

// SealedSize returns the sealed chunk's length.
func (c ChunkRef) SealedSize() int { return c.Size + crypt.Overhead }

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
	return nil
}

// AppendBinary appends the manifest's plaintext encoding to b:
//
//	version(1) | uvarint Size
//	| uvarint #stripes | #stripes × (uvarint len | descriptor)
//	| uvarint #chunks  | #chunks × (ID(32) | uvarint Size | uvarint Stripe | uvarint Shard | uvarint Offset)
func (m *Manifest) AppendBinary(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b = append(b, ManifestVersion)
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
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m *Manifest) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// ParseManifest decodes a manifest's plaintext encoding. Only the canonical
// encoding of a valid manifest is accepted.
func ParseManifest(b []byte) (*Manifest, error) {
	r := wire.NewReader(b, ErrManifest)
	if v := r.Byte(); r.Err() == nil && v != ManifestVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrManifest, v)
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
