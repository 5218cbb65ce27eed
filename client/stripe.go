package client

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// A stripe crosses the API in one request body (docs/format.md, "Daemon
// API"):
//
//	version(1) | uvarint len | descriptor (len bytes, erasure's encoding) | the stored shards' bytes
//
// The stored shards (those of size > 0) follow in the descriptor's order,
// each exactly as long as the descriptor says, with no framing of their
// own: the descriptor already carries every length, and the body's length
// must be exactly the header's plus theirs.
const stripeVersion = 1

const (
	// maxDescriptorLen is the longest valid descriptor: version, K and M
	// (two varint bytes each), ShardSize (four), and 256 × (ID, size).
	maxDescriptorLen = 1 + 2 + 2 + 4 + erasure.MaxShards*(32+4)
	// MaxStripeHead bounds the version, length and descriptor: the bytes
	// a server reads before it knows a body's length (StripeLen).
	MaxStripeHead = 1 + binary.MaxVarintLen16 + maxDescriptorLen
	// MaxStripeBody bounds a stripe's body: the largest stripe the
	// pipeline can make, k+m = 256 shards of 64 MiB.
	MaxStripeBody = MaxStripeHead + int64(erasure.MaxShards)*erasure.MaxShardSize
)

// ErrBadStripe reports a stripe body that is malformed or does not match
// its descriptor.
var ErrBadStripe = errors.New("api: malformed stripe body")

// StripeHead returns the header of the body of the stripe d describes;
// the stored shards' bytes follow it.
func StripeHead(d *erasure.Descriptor) ([]byte, error) {
	desc, err := d.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint([]byte{stripeVersion}, uint64(len(desc)))
	return append(b, desc...), nil
}

// storedBytes is the length of a stripe's stored shards.
func storedBytes(d *erasure.Descriptor) int64 {
	var n int64
	for _, s := range d.Shards {
		n += int64(s.Size)
	}
	return n
}

// decodeStripeHead reads the header from rd and returns the descriptor.
func decodeStripeHead(rd *wire.Reader) (*erasure.Descriptor, error) {
	if v := rd.Byte(); rd.Err() == nil && v != stripeVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBadStripe, v)
	}
	desc := rd.LenBytes(maxDescriptorLen)
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	d, err := erasure.ParseDescriptor(desc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStripe, err)
	}
	return d, nil
}

// StripeLen reads the descriptor from the front of a body (head holds at
// least its first min(MaxStripeHead, body length) bytes) and returns the
// body's full length, so a server can check it before reading the rest.
func StripeLen(head []byte) (int64, error) {
	rd := wire.NewReader(head, ErrBadStripe)
	d, err := decodeStripeHead(rd)
	if err != nil {
		return 0, err
	}
	return int64(len(head)-rd.Len()) + storedBytes(d), nil
}

// ParseStripe decodes a whole stripe body. The shards alias b; an empty
// slot's shard is nil. Every error matches ErrBadStripe.
func ParseStripe(b []byte) (*erasure.Descriptor, [][]byte, error) {
	rd := wire.NewReader(b, ErrBadStripe)
	d, err := decodeStripeHead(rd)
	if err != nil {
		return nil, nil, err
	}
	shards := make([][]byte, len(d.Shards))
	for i, s := range d.Shards {
		if s.Size > 0 {
			shards[i] = rd.Bytes(s.Size)
		}
	}
	rd.Done()
	if rd.Err() != nil {
		return nil, nil, rd.Err()
	}
	return d, shards, nil
}
