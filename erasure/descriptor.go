package erasure

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/internal/wire"
)

// DescriptorVersion is the first byte of an encoded Descriptor.
const DescriptorVersion byte = 1

const (
	// MaxShards bounds k+m: Reed-Solomon over GF(2^8) has 256 points.
	MaxShards = 256
	// MaxShardSize bounds one shard's length.
	MaxShardSize = 64 << 20
)

// ErrDescriptor reports a malformed or inconsistent stripe descriptor.
var ErrDescriptor = errors.New("erasure: malformed stripe descriptor")

// emptyID is the ID of a zero-length shard: an unused data slot.
var emptyID = SumShard(nil)

// Shard is one shard of a stripe as a descriptor records it.
type Shard struct {
	ID   ShardID
	Size int // bytes stored; data shards may be shorter than ShardSize
}

// Descriptor describes a stripe: k data shards followed by m parity shards.
// It holds no secrets: shard IDs and sizes are what peers see anyway.
type Descriptor struct {
	K, M      int
	ShardSize int     // the length every shard is padded to; parity shards are this long
	Shards    []Shard // K data shards, then M parity shards
}

// Data reports whether shard i is a data shard.
func (d *Descriptor) Data(i int) bool { return i < d.K }

// Stored reports whether shard i has bytes to store (empty data slots do not).
func (d *Descriptor) Stored(i int) bool { return d.Shards[i].Size > 0 }

// Validate checks the descriptor's internal consistency.
func (d *Descriptor) Validate() error {
	switch {
	case d.K < 1 || d.M < 1:
		return fmt.Errorf("%w: k=%d m=%d, both must be at least 1", ErrDescriptor, d.K, d.M)
	case d.K+d.M > MaxShards:
		return fmt.Errorf("%w: k+m=%d exceeds %d", ErrDescriptor, d.K+d.M, MaxShards)
	case d.ShardSize < 1 || d.ShardSize > MaxShardSize:
		return fmt.Errorf("%w: shard size %d out of range 1..%d", ErrDescriptor, d.ShardSize, MaxShardSize)
	case len(d.Shards) != d.K+d.M:
		return fmt.Errorf("%w: %d shards listed for k+m=%d", ErrDescriptor, len(d.Shards), d.K+d.M)
	}
	largest := 0
	for i, s := range d.Shards {
		switch {
		case i < d.K && (s.Size < 0 || s.Size > d.ShardSize):
			return fmt.Errorf("%w: data shard %d has size %d, shard size is %d", ErrDescriptor, i, s.Size, d.ShardSize)
		case i >= d.K && s.Size != d.ShardSize:
			return fmt.Errorf("%w: parity shard %d has size %d, want %d", ErrDescriptor, i, s.Size, d.ShardSize)
		case s.Size == 0 && s.ID != emptyID:
			return fmt.Errorf("%w: empty data shard %d has a non-empty ID", ErrDescriptor, i)
		}
		if i < d.K {
			largest = max(largest, s.Size)
		}
	}
	if largest != d.ShardSize {
		return fmt.Errorf("%w: shard size %d but the largest data shard is %d", ErrDescriptor, d.ShardSize, largest)
	}
	return nil
}

// AppendBinary appends the descriptor's encoding to b:
//
//	version(1) | uvarint K | uvarint M | uvarint ShardSize | (K+M) × (ID(32) | uvarint Size)
func (d *Descriptor) AppendBinary(b []byte) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b = append(b, DescriptorVersion)
	b = binary.AppendUvarint(b, uint64(d.K))
	b = binary.AppendUvarint(b, uint64(d.M))
	b = binary.AppendUvarint(b, uint64(d.ShardSize))
	for _, s := range d.Shards {
		b = append(b, s.ID[:]...)
		b = binary.AppendUvarint(b, uint64(s.Size))
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (d *Descriptor) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// ParseDescriptor decodes a descriptor that fills b exactly. Only the
// canonical encoding is accepted, so a descriptor has one byte form.
func ParseDescriptor(b []byte) (*Descriptor, error) {
	d, n, err := DecodeDescriptor(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrDescriptor, len(b)-n)
	}
	return d, nil
}

// DecodeDescriptor decodes a descriptor from the front of b and returns it
// with the number of bytes it used.
func DecodeDescriptor(b []byte) (*Descriptor, int, error) {
	r := wire.NewReader(b, ErrDescriptor)
	if v := r.Byte(); r.Err() == nil && v != DescriptorVersion {
		return nil, 0, fmt.Errorf("%w: unknown version %d", ErrDescriptor, v)
	}
	k, m, size := r.Int(MaxShards), r.Int(MaxShards), r.Int(MaxShardSize)
	if k+m > MaxShards {
		r.Fail("k+m=%d exceeds %d", k+m, MaxShards)
	}
	// Each shard takes at least 33 bytes: refuse a count the input cannot hold before allocating.
	if r.Err() == nil && k+m > r.Len()/33 {
		r.Fail("truncated: %d shards need at least %d bytes, have %d", k+m, (k+m)*33, r.Len())
	}
	if r.Err() != nil {
		return nil, 0, r.Err()
	}
	d := &Descriptor{K: k, M: m, ShardSize: size, Shards: make([]Shard, k+m)}
	for i := range d.Shards {
		copy(d.Shards[i].ID[:], r.Bytes(32))
		d.Shards[i].Size = r.Int(MaxShardSize)
	}
	if r.Err() != nil {
		return nil, 0, r.Err()
	}
	n := len(b) - r.Len()
	canon, err := d.AppendBinary(make([]byte, 0, n))
	if err != nil {
		return nil, 0, err
	}
	if string(canon) != string(b[:n]) {
		return nil, 0, fmt.Errorf("%w: non-canonical encoding", ErrDescriptor)
	}
	return d, n, nil
}
