package erasure

import (
	"errors"
	"fmt"

	"github.com/klauspost/reedsolomon"
)

// ErrTooFewShards is matched (with errors.Is) by every *TooFewShardsError.
var ErrTooFewShards = errors.New("erasure: too few shards")

// TooFewShardsError reports a stripe that cannot be rebuilt.
type TooFewShardsError struct {
	Found int // intact shards available, counting empty data slots
	Need  int // k
}

func (e *TooFewShardsError) Error() string {
	return fmt.Sprintf("erasure: too few shards to rebuild the stripe: found %d intact, need %d", e.Found, e.Need)
}

// Is makes errors.Is(err, ErrTooFewShards) hold.
func (e *TooFewShardsError) Is(target error) bool { return target == ErrTooFewShards }

// Coder encodes stripes of k data and m parity shards. It is safe for
// concurrent use.
type Coder struct {
	k, m int
	enc  reedsolomon.Encoder
}

// NewCoder returns a Coder for k data and m parity shards.
func NewCoder(k, m int) (*Coder, error) {
	if k < 1 || m < 1 || k+m > MaxShards {
		return nil, fmt.Errorf("erasure: invalid code k=%d m=%d: need k>=1, m>=1, k+m<=%d", k, m, MaxShards)
	}
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return nil, fmt.Errorf("erasure: k=%d m=%d: %w", k, m, err)
	}
	return &Coder{k: k, m: m, enc: enc}, nil
}

// K returns the number of data shards.
func (c *Coder) K() int { return c.k }

// M returns the number of parity shards.
func (c *Coder) M() int { return c.m }

// Buffers lends Encode the memory it works in, so a caller that encodes
// many stripes can recycle it. Get returns a slice of length n whose
// contents may be anything; Put takes back a slice Get returned.
type Buffers interface {
	Get(n int) []byte
	Put(b []byte)
}

type heap struct{}

func (heap) Get(n int) []byte { return make([]byte, n) }
func (heap) Put([]byte)       {}

// Encode computes the parity of up to k data shards (fewer means the
// remaining slots are empty) and returns the stripe's descriptor and its m
// parity shards. data is neither modified nor retained. At least one data
// shard must be non-empty.
func (c *Coder) Encode(data [][]byte) (*Descriptor, [][]byte, error) {
	return c.encode(data, nil, heap{}, false)
}

// EncodeWith is Encode with its working memory (padded copies of short
// data shards, and the parity returned) taken from bufs. The padded copies
// are given back before it returns; the parity shards are the caller's to
// Put when done. ids, if not nil, holds the IDs of data shards the caller
// has already hashed (while the bytes were in its cache); a zero ID is
// computed here. A wrong ID is caught by every store's Put check.
//
// Unlike Encode, EncodeWith pads a short data shard in place when its
// capacity allows, overwriting the bytes between its length and the shard
// size; the shard's own bytes are not changed.
func (c *Coder) EncodeWith(data [][]byte, ids []ShardID, bufs Buffers) (*Descriptor, [][]byte, error) {
	return c.encode(data, ids, bufs, true)
}

func (c *Coder) encode(data [][]byte, ids []ShardID, bufs Buffers, inPlace bool) (*Descriptor, [][]byte, error) {
	if len(data) > c.k {
		return nil, nil, fmt.Errorf("erasure: %d data shards for k=%d", len(data), c.k)
	}
	size := 0
	for _, b := range data {
		size = max(size, len(b))
	}
	if size == 0 || size > MaxShardSize {
		return nil, nil, fmt.Errorf("erasure: largest data shard is %d bytes, must be 1..%d", size, MaxShardSize)
	}
	d := &Descriptor{K: c.k, M: c.m, ShardSize: size, Shards: make([]Shard, c.k+c.m)}
	all := make([][]byte, c.k+c.m)
	var padded [][]byte
	for i := range c.k {
		var b []byte
		if i < len(data) {
			b = data[i]
		}
		id := ShardID{}
		if i < len(ids) {
			id = ids[i]
		}
		if id.IsZero() {
			id = SumShard(b)
		}
		d.Shards[i] = Shard{ID: id, Size: len(b)}
		if len(b) == size {
			all[i] = b
			continue
		}
		if inPlace && cap(b) >= size {
			all[i] = b[:size]
			clear(all[i][len(b):])
			continue
		}
		p := bufs.Get(size)
		copy(p, b)
		clear(p[len(b):])
		all[i] = p
		padded = append(padded, p)
	}
	for i := c.k; i < c.k+c.m; i++ {
		all[i] = bufs.Get(size)
	}
	err := c.enc.Encode(all)
	for _, p := range padded {
		bufs.Put(p)
	}
	parity := all[c.k:]
	if err != nil {
		for _, p := range parity {
			bufs.Put(p)
		}
		return nil, nil, fmt.Errorf("erasure: encode: %w", err)
	}
	for i, p := range parity {
		d.Shards[c.k+i] = Shard{ID: SumShard(p), Size: size}
	}
	return d, parity, nil
}

// Verify checks that b is shard i of the stripe d describes.
func Verify(d *Descriptor, i int, b []byte) error {
	if i < 0 || i >= len(d.Shards) {
		return fmt.Errorf("erasure: shard index %d out of range 0..%d", i, len(d.Shards)-1)
	}
	s := d.Shards[i]
	if len(b) != s.Size || !s.ID.Verify(b) {
		return fmt.Errorf("%w: shard %d (%s) does not match its ID", ErrCorrupt, i, s.ID.Short())
	}
	return nil
}

// ErrCorrupt reports shard bytes that do not hash to their ID.
var ErrCorrupt = errors.New("erasure: corrupt shard")

// Reconstruct rebuilds the missing shards of the stripe d describes.
// shards has one slot per shard (k+m); nil marks a missing shard. Every
// present shard is first verified against its ID: a shard that does not
// match is dropped (its slot set to nil) and its index returned in corrupt.
// Empty data slots need no bytes. When at least k shards are intact, every
// data slot is filled with exactly its recorded bytes; parity slots are
// rebuilt too when withParity is set. Slices already present are neither
// modified nor resized; rebuilt ones are newly allocated.
//
// With fewer than k intact shards Reconstruct returns a *TooFewShardsError
// and never fills a slot with guessed bytes.
func Reconstruct(d *Descriptor, shards [][]byte, withParity bool) (corrupt []int, err error) {
	return reconstruct(d, shards, withParity, false)
}

// ReconstructVerified is Reconstruct for a caller that has already
// verified every present shard against its ID (a repair checks each
// fetched shard against the stripe's record as it arrives): it hashes
// only what it rebuilds, each checked against its ID as Reconstruct
// does, so a shard that was not what the caller verified still yields an
// error, never bytes that do not match their ID. A present shard is
// taken as it is.
func ReconstructVerified(d *Descriptor, shards [][]byte, withParity bool) error {
	_, err := reconstruct(d, shards, withParity, true)
	return err
}

func reconstruct(d *Descriptor, shards [][]byte, withParity, verified bool) (corrupt []int, err error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if len(shards) != d.K+d.M {
		return nil, fmt.Errorf("erasure: %d shard slots for k+m=%d", len(shards), d.K+d.M)
	}
	found, missing := 0, false
	for i, b := range shards {
		switch {
		case i < d.K && d.Shards[i].Size == 0:
			shards[i] = []byte{}
			found++
		case b == nil:
			missing = missing || i < d.K || withParity
		case !verified && Verify(d, i, b) != nil:
			corrupt = append(corrupt, i)
			shards[i] = nil
			missing = missing || i < d.K || withParity
		default:
			found++
		}
	}
	if !missing {
		return corrupt, nil
	}
	if found < d.K {
		return corrupt, &TooFewShardsError{Found: found, Need: d.K}
	}
	enc, err := reedsolomon.New(d.K, d.M)
	if err != nil {
		return corrupt, fmt.Errorf("erasure: k=%d m=%d: %w", d.K, d.M, err)
	}
	// Pad the present data shards to the shard size on copies; remember
	// which slots were missing so only they are trimmed and returned.
	work := make([][]byte, len(shards))
	for i, b := range shards {
		switch {
		case b == nil:
			work[i] = nil
		case len(b) == d.ShardSize:
			work[i] = b
		default:
			p := make([]byte, d.ShardSize)
			copy(p, b)
			work[i] = p
		}
	}
	if withParity {
		err = enc.Reconstruct(work)
	} else {
		err = enc.ReconstructData(work)
	}
	if err != nil {
		return corrupt, fmt.Errorf("erasure: reconstruct: %w", err)
	}
	for i := range shards {
		if shards[i] != nil || (i >= d.K && !withParity) {
			continue
		}
		b := work[i][:d.Shards[i].Size:d.Shards[i].Size]
		if !d.Shards[i].ID.Verify(b) {
			// Only possible if the intact shards came from different stripes
			// that collide on every ID: refuse rather than return bad bytes.
			return corrupt, fmt.Errorf("%w: rebuilt shard %d does not match its ID", ErrCorrupt, i)
		}
		shards[i] = b
	}
	return corrupt, nil
}
