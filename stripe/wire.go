package stripe

import (
	"encoding/binary"
	"fmt"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/merkle"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// The encodings (docs/format.md, "Stripe records"):
//
//	record:    version | uvarint len | descriptor | (k+m) × root(32) | uvarint seq
//	           | (k+m) × (uvarint n | n × (uvarint len | holder)) | retention | path
//	tombstone: version | stripe ID(32) | release | path
//	path:      uvarint index | uvarint n | n × sibling(32)
const (
	// maxDescriptorLen is the longest valid descriptor: 256 shards of 64 MiB.
	maxDescriptorLen = 1 + 2 + 2 + 4 + erasure.MaxShards*(32+4)
	maxPathLen       = 4 + 1 + maxSetDepth*32
	// MaxRecordLen bounds an encoded record.
	MaxRecordLen = 1 + 2 + maxDescriptorLen + erasure.MaxShards*32 + binary.MaxVarintLen64 +
		erasure.MaxShards*(1+MaxHolders*(2+MaxHolderLen)) + RetentionLen + maxPathLen
	// TombstoneMaxLen bounds an encoded tombstone.
	TombstoneMaxLen = 1 + 32 + ReleaseLen + maxPathLen
)

// AppendBinary appends the record's encoding to b. It checks the record's
// form, not its signature.
func (r *Record) AppendBinary(b []byte) ([]byte, error) {
	if err := r.checkForm(); err != nil {
		return nil, err
	}
	d, err := r.Descriptor.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(d)))
	b = append(b, d...)
	for _, root := range r.Roots {
		b = append(b, root[:]...)
	}
	b = binary.AppendUvarint(b, r.Seq)
	for i := range r.Roots {
		var names []string
		if r.Holders != nil {
			names = r.Holders[i]
		}
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, h := range names {
			b = binary.AppendUvarint(b, uint64(len(h)))
			b = append(b, h...)
		}
	}
	b = append(r.Retention.unsigned(b), r.Retention.Sig[:]...)
	return r.Path.AppendBinary(b), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (r *Record) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// ParseRecord decodes a record that fills b exactly. It checks the
// record's form, not its signature (Verify, or Receive, which verifies).
// The record does not alias b.
func ParseRecord(b []byte) (*Record, error) {
	rd := wire.NewReader(b, ErrBadRecord)
	readVersion(rd, "record")
	db := rd.LenBytes(maxDescriptorLen)
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	d, err := erasure.ParseDescriptor(db)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	n := len(d.Shards)
	if rd.Len() < 32*n {
		return nil, fmt.Errorf("%w: truncated: %d roots need %d bytes, have %d", ErrBadRecord, n, 32*n, rd.Len())
	}
	r := &Record{Descriptor: d, Roots: make([]proof.Root, n), Holders: make([][]string, n)}
	for i := range r.Roots {
		copy(r.Roots[i][:], rd.Bytes(32))
	}
	r.Seq = rd.Uvarint(1<<64 - 1)
	for i := range r.Holders {
		k := rd.Count(MaxHolders, 2)
		for range k {
			if h := rd.LenBytes(MaxHolderLen); rd.Err() == nil {
				r.Holders[i] = append(r.Holders[i], string(h))
			}
		}
	}
	r.Retention = readRetention(rd)
	r.Path = readPath(rd)
	rd.Done()
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	return r, wire.Canonical(b, r, ErrBadRecord)
}

// AppendBinary appends the tombstone's encoding to b.
func (t *Tombstone) AppendBinary(b []byte) ([]byte, error) {
	if err := t.Release.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if merkle.PathLen(t.Path.Index, t.Release.Count) != len(t.Path.Siblings) {
		return nil, fmt.Errorf("%w: a path of %d at %d does not fit a set of %d", ErrBadRecord, len(t.Path.Siblings), t.Path.Index, t.Release.Count)
	}
	b = append(b, Version)
	b = append(b, t.Stripe[:]...)
	b = append(t.Release.unsigned(b), t.Release.Sig[:]...)
	return t.Path.AppendBinary(b), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (t *Tombstone) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// ParseTombstone decodes a tombstone that fills b exactly. It checks the
// form, not the signature (Verify).
func ParseTombstone(b []byte) (*Tombstone, error) {
	rd := wire.NewReader(b, ErrBadRecord)
	readVersion(rd, "tombstone")
	t := &Tombstone{}
	copy(t.Stripe[:], rd.Bytes(32))
	t.Release = readRelease(rd)
	t.Path = readPath(rd)
	rd.Done()
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	return t, wire.Canonical(b, t, ErrBadRecord)
}
