package proto

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
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
//	  Claim:   uvarint len | record | uvarint ballot | sent(8) | uvarint ttl ms |
//	           slots | cert
//	  Grant:   stripe(32) | uvarint version | uvarint ballot | sent(8) |
//	           uvarint len | signature
//	  Deny:    stripe(32) | uvarint version | uvarint ballot |
//	           uvarint len | holder | uvarint remaining ms
//	  Stale:   uvarint len | record | cert
//	  Release: stripe(32) | uvarint ballot
//	  Done:    uvarint len | record (the next record, naming the new holders) | cert
//	  Watch:   uvarint len | record | cert
//	  slots:   uvarint n | n × uvarint slot (ascending)
//	  cert:    0 (none) | 1 | uvarint version | uvarint ballot |
//	           uvarint len | claimant | slots | uvarint g |
//	           g × (uvarint len | grantor | uvarint len | signature) |
//	           uvarint len | commit signature |
//	           uvarint h | h × (uvarint len | holder) (of the version repaired;
//	           an empty name: nobody) | cert (the one before; at most
//	           MaxRepairChain in all)
//	response: version(1) | status(1) | if not OK: uvarint len | message
//
// A record is a stripe.Record's encoding, parsed here (form only): the
// receiver verifies it (stripe.Receive) before it acts on it. sent is a
// time in Unix nanoseconds, big-endian, echoed by the Grant exactly as the
// Claim carried it; a version is a record's Seq. A Grant's signature is
// the holder's (its libp2p identity key) over package repair's
// GrantStatement; a cert is a repair.Cert (the grants of a majority of
// the repaired version's holders and the repairer's signature over the
// new holders), checked by the receiver, not here.
const (
	// RepairID is the repair protocol's libp2p ID (under the cloud's
	// prefix).
	RepairID = "/repair/2"
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
	// MaxRepairSig bounds a signature (repair.MaxCertSig).
	MaxRepairSig = 128
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

// RepairCert is a repair's grant certificate (package repair's Cert):
// the grants of a majority of version Version's holders to Claimant for
// Ballot and Slots, and Claimant's signature over the new holders;
// Holders are version Version's, Prev the certificate before.
type RepairCert struct {
	Version, Ballot uint64
	Claimant        string
	Slots           []int
	Grants          []RepairSigned
	Commit          []byte
	Holders         []string
	Prev            *RepairCert
}

// MaxRepairChain bounds a certificate's chain (repair.MaxChain).
const MaxRepairChain = 16

// RepairSigned is one holder's signed grant.
type RepairSigned struct {
	From string
	Sig  []byte
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
	Slots     []int          // Claim: the slots it replaces
	Sig       []byte         // Grant: the holder's signature
	Cert      *RepairCert    // Claim, Stale, Done, Watch (nil: none)
}

func appendSlots(b []byte, slots []int) ([]byte, error) {
	if len(slots) > erasure.MaxShards {
		return nil, fmt.Errorf("%w: %d slots", ErrMalformed, len(slots))
	}
	b = binary.AppendUvarint(b, uint64(len(slots)))
	for j, i := range slots {
		if i < 0 || i >= erasure.MaxShards || j > 0 && slots[j-1] >= i {
			return nil, fmt.Errorf("%w: slots %v not ascending below %d", ErrMalformed, slots, erasure.MaxShards)
		}
		b = binary.AppendUvarint(b, uint64(i))
	}
	return b, nil
}

func appendBytes(b, v []byte, limit int, what string) ([]byte, error) {
	if len(v) > limit {
		return nil, fmt.Errorf("%w: a %s of %d bytes exceeds %d", ErrMalformed, what, len(v), limit)
	}
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...), nil
}

func appendCert(b []byte, c *RepairCert) ([]byte, error) {
	return appendChain(b, c, MaxRepairChain)
}

func appendChain(b []byte, c *RepairCert, depth int) ([]byte, error) {
	if c == nil {
		return append(b, 0), nil
	}
	if depth == 0 || len(c.Holders) > erasure.MaxShards {
		return nil, fmt.Errorf("%w: a certificate chain longer than %d or of %d holders", ErrMalformed, MaxRepairChain, len(c.Holders))
	}
	if c.Claimant == "" || len(c.Grants) > erasure.MaxShards {
		return nil, fmt.Errorf("%w: a certificate of %d grants for claimant %q", ErrMalformed, len(c.Grants), c.Claimant)
	}
	b = append(b, 1)
	b = binary.AppendUvarint(b, c.Version)
	b = binary.AppendUvarint(b, c.Ballot)
	var err error
	if b, err = appendBytes(b, []byte(c.Claimant), MaxRepairHolder, "claimant"); err != nil {
		return nil, err
	}
	if b, err = appendSlots(b, c.Slots); err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(c.Grants)))
	for _, g := range c.Grants {
		if g.From == "" {
			return nil, fmt.Errorf("%w: a grant from nobody", ErrMalformed)
		}
		if b, err = appendBytes(b, []byte(g.From), MaxRepairHolder, "grantor"); err != nil {
			return nil, err
		}
		if b, err = appendBytes(b, g.Sig, MaxRepairSig, "signature"); err != nil {
			return nil, err
		}
	}
	if b, err = appendBytes(b, c.Commit, MaxRepairSig, "signature"); err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(c.Holders)))
	for _, h := range c.Holders {
		if b, err = appendBytes(b, []byte(h), MaxRepairHolder, "holder"); err != nil {
			return nil, err
		}
	}
	return appendChain(b, c.Prev, depth-1)
}

func readSlots(r *wire.Reader) []int {
	n := r.Count(erasure.MaxShards, 1)
	var out []int
	for j := 0; j < n && r.Err() == nil; j++ {
		i := int(r.Uvarint(erasure.MaxShards - 1))
		if r.Err() == nil && j > 0 && out[j-1] >= i {
			r.Fail("slots not ascending")
		}
		out = append(out, i)
	}
	return out
}

func readCert(r *wire.Reader) *RepairCert { return readChain(r, MaxRepairChain) }

func readChain(r *wire.Reader, depth int) *RepairCert {
	switch r.Byte() {
	case 0:
		return nil
	case 1:
	default:
		if r.Err() == nil {
			r.Fail("a certificate flag other than 0 or 1")
		}
		return nil
	}
	c := &RepairCert{Version: r.Uvarint(^uint64(0)), Ballot: r.Uvarint(^uint64(0))}
	c.Claimant = string(r.LenBytes(MaxRepairHolder))
	if r.Err() == nil && c.Claimant == "" {
		r.Fail("a certificate without its claimant")
	}
	c.Slots = readSlots(r)
	n := r.Count(erasure.MaxShards, 2)
	for range n {
		if r.Err() != nil {
			break
		}
		g := RepairSigned{From: string(r.LenBytes(MaxRepairHolder)), Sig: clone(r.LenBytes(MaxRepairSig))}
		if r.Err() == nil && g.From == "" {
			r.Fail("a grant from nobody")
		}
		c.Grants = append(c.Grants, g)
	}
	c.Commit = clone(r.LenBytes(MaxRepairSig))
	n = r.Count(erasure.MaxShards, 1)
	for range n {
		if r.Err() != nil {
			break
		}
		c.Holders = append(c.Holders, string(r.LenBytes(MaxRepairHolder)))
	}
	if r.Err() != nil {
		return nil
	}
	if depth == 1 {
		if b := r.Byte(); r.Err() == nil && b != 0 {
			r.Fail("a certificate chain longer than %d", MaxRepairChain)
		}
		return c
	}
	c.Prev = readChain(r, depth-1)
	return c
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

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
		var err error
		if b, err = appendSlots(b, m.Slots); err != nil {
			return nil, err
		}
	case RepairGrant:
		b = append(b, m.Stripe[:]...)
		b = binary.AppendUvarint(b, m.Version)
		b = binary.AppendUvarint(b, m.Ballot)
		b = binary.BigEndian.AppendUint64(b, uint64(m.Sent.UnixNano()))
		var err error
		if b, err = appendBytes(b, m.Sig, MaxRepairSig, "signature"); err != nil {
			return nil, err
		}
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
	if m.Kind.hasRecord() {
		return appendCert(b, m.Cert)
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
		m.Slots = readSlots(r)
	case RepairGrant:
		copy(m.Stripe[:], r.Bytes(32))
		m.Version = r.Uvarint(^uint64(0))
		m.Ballot = r.Uvarint(^uint64(0))
		m.Sent = sent()
		m.Sig = clone(r.LenBytes(MaxRepairSig))
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
	if m.Kind.hasRecord() && r.Err() == nil {
		m.Cert = readCert(r)
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
