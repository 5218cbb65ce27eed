package proto

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/stripe"
)

// The repair protocol: the messages of package repair's claim protocol,
// batched per peer. A sender opens a stream, writes one request frame
// with every message it has for that peer, and reads one response frame
// that says the batch was taken (or why not). Framing is the shard
// protocol's. The sender is the connection's peer, so the claimant of a
// Claim and the repairer of a Done are never on the wire.
//
//	request:  version(1) | uvarint n | n × (kind(1) | fields)
//	  Claim:   uvarint len | record | uvarint ballot | sent(8) | uvarint ttl ms
//	  Grant:   stripe(32) | uvarint version | uvarint ballot | sent(8)
//	  Deny:    stripe(32) | uvarint version | uvarint ballot |
//	           uvarint len | holder | uvarint remaining ms
//	  Stale:   uvarint len | record
//	  Release: stripe(32) | uvarint ballot
//	  Done:    uvarint len | record (the next record, naming the new holders)
//	  Watch:   uvarint len | record
//	response: version(1) | status(1) | if not OK: uvarint len | message
//
// A record is a stripe.Record's encoding, parsed here (form only): the
// receiver verifies it (stripe.Receive) before it acts on it. sent is a
// time in Unix nanoseconds, big-endian, echoed by the Grant exactly as the
// Claim carried it; a version is a record's Seq.
const (
	// RepairID is the repair protocol's libp2p ID (under the cloud's
	// prefix).
	RepairID = "/repair/1"
	// MaxRepairBatch bounds the messages of one request.
	MaxRepairBatch = 256
	// MaxRepairHolder bounds a Deny's holder (a peer ID).
	MaxRepairHolder = stripe.MaxHolderLen
	// MaxRepairRequest bounds a request frame: a batch of small records
	// fits easily; a batch of large ones is split by the sender
	// (RepairBatches).
	MaxRepairRequest = 4 << 20
	// MaxRepairResponse bounds a response frame.
	MaxRepairResponse = 8 + MaxMessage
	// maxTTL bounds a claim's lease and a deny's remaining time.
	maxTTL = 7 * 24 * time.Hour
)

// RepairKind names a repair message.
type RepairKind byte

// The kinds.
const (
	RepairClaim RepairKind = 1 + iota
	RepairGrant
	RepairDeny
	RepairStale
	RepairRelease
	RepairDone
	RepairWatch
)

var repairKindNames = [...]string{"", "claim", "grant", "deny", "stale", "release", "done", "watch"}

func (k RepairKind) String() string {
	if k == 0 || int(k) >= len(repairKindNames) {
		return fmt.Sprintf("repair kind(%d)", byte(k))
	}
	return repairKindNames[k]
}

// hasRecord reports whether messages of kind k carry a record.
func (k RepairKind) hasRecord() bool {
	return k == RepairClaim || k == RepairStale || k == RepairDone || k == RepairWatch
}

// RepairMsg is one repair message. Only the fields of its Kind are used.
type RepairMsg struct {
	Kind      RepairKind
	Record    *stripe.Record // Claim, Stale, Done, Watch
	Stripe    stripe.ID      // Grant, Deny, Release
	Version   uint64         // Grant, Deny
	Ballot    uint64         // Claim, Grant, Deny, Release
	Sent      time.Time      // Claim, Grant
	TTL       time.Duration  // Claim (milliseconds on the wire)
	Holder    string         // Deny: the peer the grant runs to
	Remaining time.Duration  // Deny (milliseconds on the wire)
}

// AppendRepairMsg appends one message (kind and fields) to b.
func AppendRepairMsg(b []byte, m *RepairMsg) ([]byte, error) {
	b = append(b, byte(m.Kind))
	if m.Kind.hasRecord() {
		if m.Record == nil {
			return nil, fmt.Errorf("%w: a %v without its record", ErrMalformed, m.Kind)
		}
		rec, err := m.Record.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("%w: %v: %w", ErrMalformed, m.Kind, err)
		}
		b = binary.AppendUvarint(b, uint64(len(rec)))
		b = append(b, rec...)
	}
	switch m.Kind {
	case RepairClaim:
		if m.TTL <= 0 || m.TTL > maxTTL {
			return nil, fmt.Errorf("%w: a claim of %v", ErrMalformed, m.TTL)
		}
		b = binary.AppendUvarint(b, m.Ballot)
		b = binary.BigEndian.AppendUint64(b, uint64(m.Sent.UnixNano()))
		b = binary.AppendUvarint(b, uint64(m.TTL.Milliseconds()))
	case RepairGrant:
		b = append(b, m.Stripe[:]...)
		b = binary.AppendUvarint(b, m.Version)
		b = binary.AppendUvarint(b, m.Ballot)
		b = binary.BigEndian.AppendUint64(b, uint64(m.Sent.UnixNano()))
	case RepairDeny:
		if len(m.Holder) == 0 || len(m.Holder) > MaxRepairHolder || m.Remaining < 0 || m.Remaining > maxTTL {
			return nil, fmt.Errorf("%w: a deny for %d-byte holder, %v", ErrMalformed, len(m.Holder), m.Remaining)
		}
		b = append(b, m.Stripe[:]...)
		b = binary.AppendUvarint(b, m.Version)
		b = binary.AppendUvarint(b, m.Ballot)
		b = binary.AppendUvarint(b, uint64(len(m.Holder)))
		b = append(b, m.Holder...)
		b = binary.AppendUvarint(b, uint64(m.Remaining.Milliseconds()))
	case RepairRelease:
		b = append(b, m.Stripe[:]...)
		b = binary.AppendUvarint(b, m.Ballot)
	case RepairStale, RepairDone, RepairWatch:
	default:
		return nil, fmt.Errorf("%w: unknown repair message %d", ErrMalformed, m.Kind)
	}
	return b, nil
}

// AppendRepairRequest appends the request body of a batch of messages.
func AppendRepairRequest(b []byte, msgs []RepairMsg) ([]byte, error) {
	if len(msgs) == 0 || len(msgs) > MaxRepairBatch {
		return nil, fmt.Errorf("%w: %d repair messages, 1 to %d", ErrMalformed, len(msgs), MaxRepairBatch)
	}
	start := len(b)
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for i := range msgs {
		var err error
		if b, err = AppendRepairMsg(b, &msgs[i]); err != nil {
			return nil, err
		}
	}
	if len(b)-start > MaxRepairRequest {
		return nil, fmt.Errorf("%w: a repair request of %d bytes exceeds %d", ErrMalformed, len(b)-start, MaxRepairRequest)
	}
	return b, nil
}

// RepairBatches splits msgs into batches that each encode within the
// request limits, in order. A message too large on its own is an error.
func RepairBatches(msgs []RepairMsg) ([][]RepairMsg, error) {
	var out [][]RepairMsg
	start, size := 0, 16
	for i := range msgs {
		one, err := AppendRepairMsg(nil, &msgs[i])
		if err != nil {
			return nil, err
		}
		if 16+len(one) > MaxRepairRequest {
			return nil, fmt.Errorf("%w: a %v of %d bytes", ErrMalformed, msgs[i].Kind, len(one))
		}
		if i > start && (i-start == MaxRepairBatch || size+len(one) > MaxRepairRequest) {
			out = append(out, msgs[start:i])
			start, size = i, 16
		}
		size += len(one)
	}
	if start < len(msgs) {
		out = append(out, msgs[start:])
	}
	return out, nil
}

// ParseRepairRequest decodes a request body. Records are parsed (their
// form checked), not verified.
func ParseRepairRequest(b []byte) ([]RepairMsg, error) {
	if len(b) > MaxRepairRequest {
		return nil, fmt.Errorf("%w: a repair request of %d bytes exceeds %d", ErrMalformed, len(b), MaxRepairRequest)
	}
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	n := r.Count(MaxRepairBatch, 2)
	if r.Err() == nil && n == 0 {
		r.Fail("an empty repair request")
	}
	var out []RepairMsg
	for i := 0; i < n && r.Err() == nil; i++ {
		m, err := readRepairMsg(r)
		if err != nil {
			return nil, fmt.Errorf("repair message %d: %w", i, err)
		}
		out = append(out, m)
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return out, nil
}

func readRepairMsg(r *wire.Reader) (RepairMsg, error) {
	m := RepairMsg{Kind: RepairKind(r.Byte())}
	if r.Err() != nil {
		return m, r.Err()
	}
	if m.Kind.hasRecord() {
		rb := r.LenBytes(stripe.MaxRecordLen)
		if r.Err() != nil {
			return m, r.Err()
		}
		rec, err := stripe.ParseRecord(rb)
		if err != nil {
			return m, fmt.Errorf("%w: %v: %w", ErrMalformed, m.Kind, err)
		}
		m.Record = rec
	}
	sent := func() time.Time {
		b := r.Bytes(8)
		if b == nil {
			return time.Time{}
		}
		return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	}
	switch m.Kind {
	case RepairClaim:
		m.Ballot = r.Uvarint(^uint64(0))
		m.Sent = sent()
		m.TTL = time.Duration(r.Uvarint(uint64(maxTTL.Milliseconds()))) * time.Millisecond
		if r.Err() == nil && m.TTL <= 0 {
			r.Fail("a claim of no time")
		}
	case RepairGrant:
		copy(m.Stripe[:], r.Bytes(32))
		m.Version = r.Uvarint(^uint64(0))
		m.Ballot = r.Uvarint(^uint64(0))
		m.Sent = sent()
	case RepairDeny:
		copy(m.Stripe[:], r.Bytes(32))
		m.Version = r.Uvarint(^uint64(0))
		m.Ballot = r.Uvarint(^uint64(0))
		m.Holder = string(r.LenBytes(MaxRepairHolder))
		m.Remaining = time.Duration(r.Uvarint(uint64(maxTTL.Milliseconds()))) * time.Millisecond
		if r.Err() == nil && m.Holder == "" {
			r.Fail("a deny without its holder")
		}
	case RepairRelease:
		copy(m.Stripe[:], r.Bytes(32))
		m.Ballot = r.Uvarint(^uint64(0))
	case RepairStale, RepairDone, RepairWatch:
	default:
		r.Fail("unknown repair message %d", m.Kind)
	}
	return m, r.Err()
}

// AppendRepairResponse appends a response body.
func AppendRepairResponse(b []byte, st Status, msg string) []byte {
	b = append(b, Version, byte(st))
	if st != StatusOK {
		if len(msg) > MaxMessage {
			msg = msg[:MaxMessage]
		}
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
	}
	return b
}

// ParseRepairResponse decodes a response body.
func ParseRepairResponse(b []byte) (Status, string, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return 0, "", fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	st := Status(r.Byte())
	var msg string
	switch {
	case r.Err() != nil:
	case st > StatusRefused:
		r.Fail("unknown status %d", st)
	case st != StatusOK:
		msg = string(r.LenBytes(MaxMessage))
	}
	r.Done()
	if r.Err() != nil {
		return 0, "", r.Err()
	}
	return st, msg, nil
}
