// Package proto is the shard protocol's wire format: the messages peers
// exchange over libp2p streams to put, get, list, renew and release
// shards. One stream carries one request and its response, each in one
// frame: a uvarint length and that many bytes. Every parser is bounded
// (internal/wire) and fuzzed; a malformed message is an error wrapping
// ErrMalformed and never a panic.
//
// Request body:
//
//	version(1) | op(1) | fields
//	Put:     id(32) | uvarint lease seconds | data (the rest)
//	Get:     id(32)
//	Has:     uvarint n | n × id(32)
//	List:    after(32) | uvarint limit
//	Renew:   uvarint lease seconds | uvarint n | n × id(32)
//	Release: uvarint n | n × id(32)
//	PutStripe:      uvarint shard index | uvarint len | record | data (the rest)
//	Record:         record (the rest)
//	RenewStripes:   renewal (the rest; stripe.Renewal)
//	ReleaseStripes: releasing (the rest; stripe.Releasing)
//
// Response body:
//
//	version(1) | status(1) | fields
//	OK Get:   data (the rest)
//	OK Has, Renew: bitmap of ceil(n/8) bytes, bit i of byte i/8 for id i
//	OK RenewStripes: the same bitmap over the renewal's n stripes
//	OK List:  uvarint n | n × (id(32) | uvarint size)
//	not OK:   uvarint len | message (at most MaxMessage bytes)
package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/stripe"
)

// ID is the libp2p protocol ID of this version of the shard protocol
// (prefixed with the cloud's own prefix by the node).
const ID = "/shard/1"

// Version is the first byte of every message.
const Version byte = 1

// Limits.
const (
	MaxBatch      = 4096                                             // IDs in one Has, Renew or Release
	MaxList       = 2048                                             // entries in one List response
	MaxMessage    = 1024                                             // bytes of an error message
	MaxLease      = 90 * 24 * 3600                                   // seconds: 90 days
	MaxFrame      = erasure.MaxShardSize + 256 + stripe.MaxRecordLen // a Put, PutStripe or Get of the largest shard
	maxSmallFrame = 64 + MaxBatch*(32+5)                             // any other message (a full List: 32-byte ID, size varint)
)

// ErrMalformed reports a message that does not parse.
var ErrMalformed = errors.New("proto: malformed message")

// Op is a request type.
type Op byte

// Ops.
const (
	OpPut Op = 1 + iota
	OpGet
	OpHas
	OpList
	OpRenew
	OpRelease
	// OpPutStripe puts shard Index of the stripe Body (a stripe.Record)
	// describes, with the record: the holder checks both and keeps the
	// record with the shard. The retention's term is the lease's.
	OpPutStripe
	// OpRecord hands a holder a newer record of a stripe it holds (new
	// holder hints).
	OpRecord
	// OpRenewStripes renews stripes: Body is a stripe.Renewal.
	OpRenewStripes
	// OpReleaseStripes releases stripes: Body is a stripe.Releasing.
	OpReleaseStripes
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpGet:
		return "get"
	case OpHas:
		return "has"
	case OpList:
		return "list"
	case OpRenew:
		return "renew"
	case OpRelease:
		return "release"
	case OpPutStripe:
		return "put stripe"
	case OpRecord:
		return "record"
	case OpRenewStripes:
		return "renew stripes"
	case OpReleaseStripes:
		return "release stripes"
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// Status is a response's outcome.
type Status byte

// Statuses.
const (
	StatusOK Status = iota
	StatusNotFound
	StatusBadShard // the bytes do not hash to the ID
	StatusFull     // no capacity left
	StatusBadRequest
	StatusBusy // the node is overloaded; try another holder or later
	StatusInternal
	StatusRefused // the stripe's record does not allow it (invalid, expired, released)
)

func (s Status) String() string {
	return [...]string{"ok", "not found", "bad shard", "full", "bad request", "busy", "internal error", "refused"}[min(int(s), 7)]
}

// Request is one request. Only the fields of its Op are used.
type Request struct {
	Op    Op
	ID    erasure.ShardID   // Put, Get; List: list IDs after this one
	IDs   []erasure.ShardID // Has, Renew, Release
	Lease uint32            // seconds; Put, Renew
	Limit int               // List
	Data  []byte            // Put, PutStripe
	Index int               // PutStripe: the shard's index in the stripe
	Body  []byte            // PutStripe, Record: a record; RenewStripes, ReleaseStripes: the batch
}

// Response is one response.
type Response struct {
	Status  Status
	Message string  // when Status is not OK
	Data    []byte  // Get
	Bits    []bool  // Has, Renew
	Entries []Entry // List
}

// Entry is a shard in a List response.
type Entry struct {
	ID   erasure.ShardID
	Size int
}

// AppendRequest appends the body of req to b. For a Put, Data is not
// copied if b is nil and the caller writes the frame with WriteFrame in
// two parts; see PutHeader.
func AppendRequest(b []byte, req *Request) ([]byte, error) {
	b = append(b, Version, byte(req.Op))
	switch req.Op {
	case OpPut:
		b = PutHeader(b, req.ID, req.Lease)
		b = append(b, req.Data...)
	case OpGet:
		b = append(b, req.ID[:]...)
	case OpHas, OpRelease:
		b = appendIDs(b, req.IDs)
	case OpList:
		b = append(b, req.ID[:]...)
		b = binary.AppendUvarint(b, uint64(req.Limit))
	case OpRenew:
		b = binary.AppendUvarint(b, uint64(req.Lease))
		b = appendIDs(b, req.IDs)
	case OpPutStripe:
		b = PutStripeHeader(b, req.Index, req.Body)
		b = append(b, req.Data...)
	case OpRecord, OpRenewStripes, OpReleaseStripes:
		b = append(b, req.Body...)
	default:
		return nil, fmt.Errorf("%w: unknown op %d", ErrMalformed, req.Op)
	}
	return b, nil
}

// PutHeader appends the fields of a Put that precede its data (after the
// version and op bytes).
func PutHeader(b []byte, id erasure.ShardID, lease uint32) []byte {
	b = append(b, id[:]...)
	return binary.AppendUvarint(b, uint64(lease))
}

// PutStripeHeader appends the fields of a PutStripe that precede its
// data (after the version and op bytes).
func PutStripeHeader(b []byte, index int, record []byte) []byte {
	b = binary.AppendUvarint(b, uint64(index))
	b = binary.AppendUvarint(b, uint64(len(record)))
	return append(b, record...)
}

func appendIDs(b []byte, ids []erasure.ShardID) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// ParseRequest decodes a request body. A Put's Data aliases b.
func ParseRequest(b []byte) (*Request, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	req := &Request{Op: Op(r.Byte())}
	switch req.Op {
	case OpPut:
		copy(req.ID[:], r.Bytes(32))
		req.Lease = uint32(r.Uvarint(MaxLease))
		req.Data = r.Bytes(r.Len())
	case OpGet:
		copy(req.ID[:], r.Bytes(32))
	case OpHas, OpRelease:
		req.IDs = readIDs(r)
	case OpList:
		copy(req.ID[:], r.Bytes(32))
		req.Limit = r.Int(MaxList)
	case OpRenew:
		req.Lease = uint32(r.Uvarint(MaxLease))
		req.IDs = readIDs(r)
	case OpPutStripe:
		req.Index = r.Int(erasure.MaxShards - 1)
		req.Body = r.LenBytes(stripe.MaxRecordLen)
		req.Data = r.Bytes(r.Len())
	case OpRecord, OpRenewStripes, OpReleaseStripes:
		req.Body = r.Bytes(r.Len())
	default:
		if r.Err() == nil {
			r.Fail("unknown op %d", req.Op)
		}
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return req, nil
}

func readIDs(r *wire.Reader) []erasure.ShardID {
	n := r.Count(MaxBatch, 32)
	if r.Err() != nil {
		return nil
	}
	ids := make([]erasure.ShardID, n)
	for i := range ids {
		copy(ids[i][:], r.Bytes(32))
	}
	return ids
}

// AppendResponse appends the body of resp, answering a request of op, to b.
func AppendResponse(b []byte, op Op, resp *Response) []byte {
	b = append(b, Version, byte(resp.Status))
	if resp.Status != StatusOK {
		msg := resp.Message
		if len(msg) > MaxMessage {
			msg = msg[:MaxMessage]
		}
		b = binary.AppendUvarint(b, uint64(len(msg)))
		return append(b, msg...)
	}
	switch op {
	case OpGet:
		b = append(b, resp.Data...)
	case OpHas, OpRenew, OpRenewStripes:
		bits := make([]byte, (len(resp.Bits)+7)/8)
		for i, v := range resp.Bits {
			if v {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		b = append(b, bits...)
	case OpList:
		b = binary.AppendUvarint(b, uint64(len(resp.Entries)))
		for _, e := range resp.Entries {
			b = append(b, e.ID[:]...)
			b = binary.AppendUvarint(b, uint64(e.Size))
		}
	}
	return b
}

// ParseResponse decodes the body of a response to a request of op with n
// IDs (for Has and Renew) or stripes (RenewStripes). A Get's Data aliases
// b.
func ParseResponse(b []byte, op Op, n int) (*Response, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	resp := &Response{Status: Status(r.Byte())}
	switch {
	case r.Err() != nil:
	case resp.Status > StatusRefused:
		r.Fail("unknown status %d", resp.Status)
	case resp.Status != StatusOK:
		resp.Message = string(r.LenBytes(MaxMessage))
	case op == OpGet:
		resp.Data = r.Bytes(r.Len())
	case op == OpHas || op == OpRenew || op == OpRenewStripes:
		if n < 0 || n > max(MaxBatch, stripe.MaxBatch) {
			r.Fail("%d IDs asked about", n)
			break
		}
		bits := r.Bytes((n + 7) / 8)
		if r.Err() == nil {
			resp.Bits = make([]bool, n)
			for i := range resp.Bits {
				resp.Bits[i] = bits[i/8]&(1<<(i%8)) != 0
			}
		}
	case op == OpList:
		k := r.Count(MaxList, 33)
		if r.Err() == nil {
			resp.Entries = make([]Entry, k)
			for i := range resp.Entries {
				copy(resp.Entries[i].ID[:], r.Bytes(32))
				resp.Entries[i].Size = r.Int(erasure.MaxShardSize)
			}
		}
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return resp, nil
}

// WriteFrame writes one frame holding the concatenation of parts.
func WriteFrame(w io.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	hdr := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64), uint64(n))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// ReadFrameSize reads a frame's length and checks it against max, so the
// caller can reserve memory before reading the body.
func ReadFrameSize(r io.ByteReader, max int) (int, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("%w: stream ended before a frame", ErrMalformed)
		}
		return 0, fmt.Errorf("%w: frame length: %v", ErrMalformed, err)
	}
	if n > uint64(max) {
		return 0, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrMalformed, n, max)
	}
	return int(n), nil
}

// MaxFrameFor returns the largest frame a message of op may take.
func MaxFrameFor(op Op) int {
	switch op {
	case OpPut, OpGet, OpPutStripe:
		return MaxFrame
	case OpRecord:
		return 64 + stripe.MaxRecordLen
	case OpRenewStripes, OpReleaseStripes:
		return 64 + stripe.MaxRenewalLen
	}
	return maxSmallFrame
}
