package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/murmur-cloud/murmur/internal/wire"
)

// The messages real nodes exchange, and their byte encoding. Peers are
// named by opaque strings (libp2p peer IDs). Every message is
//
//	version(1) | kind(1) | body
//
// with counts and lengths as uvarints, floats as 8-byte big-endian IEEE
// 754, and every count bounded before anything is allocated
// (docs/format.md).
//
// Version 2 adds a peer's compute slots to every descriptor. A writer uses
// the lowest version that carries its message: version 1 while no
// descriptor in it offers slots, so a cloud without compute still talks to
// nodes that read only version 1, and those fail a version 2 message with
// ErrWire ("version 2") rather than misread it. Readers take both.

// Versions of the gossip wire: the first byte of every gossip message.
const (
	WireV1      byte = 1 // descriptors without compute slots
	WireV2      byte = 2 // descriptors with Slots and SlotsFree
	WireVersion      = WireV2
)

// Message kinds.
const (
	KindShuffle      byte = 1 // a Cyclon shuffle request
	KindShuffleReply byte = 2
	KindExchange     byte = 3 // an aggregation (and top-k) exchange
	KindExchangeRepl byte = 4
)

// Wire limits.
const (
	MaxPeerLen  = 128 // bytes of a peer's name
	MaxZoneLen  = 64
	MaxReports  = 256
	MaxWireSize = 64 << 10 // no message is larger
)

// ErrWire reports a malformed gossip message.
var ErrWire = errors.New("gossip: malformed message")

// Descriptor is what a node says of itself in every message: hints, which
// placement checks by experience (a node claiming space it lacks fails its
// puts and loses reliability).
type Descriptor struct {
	Key      Key    // its slicing and top-k value
	Zone     string // operator-set failure zone ("office", "home")
	Capacity int64  // bytes it stores for the cloud; 0: no quota
	Free     int64  // bytes it can still take; -1: no quota

	// Compute (wire version 2): the job slots the peer offers, 0 when it
	// runs no jobs, and how many are free now (at most Slots). A hint like
	// the rest: a peer that takes a job it cannot run loses reliability.
	Slots     uint16
	SlotsFree uint16
}

// computes reports whether d needs wire version 2.
func (d Descriptor) computes() bool { return d.Slots != 0 || d.SlotsFree != 0 }

// Link is a Cyclon link as sent: the peer, its age, and the descriptor the
// peer gave when it made the link.
type Link struct {
	Peer string
	Age  uint32
	Desc Descriptor
}

// ShuffleMsg is a shuffle request or reply: the sender's descriptor, the
// links it passes on, and reports of its first-hand experience of peers.
type ShuffleMsg struct {
	From    Descriptor
	Links   []Link
	Reports []Report[string]
}

// ExchangeMsg is an aggregation exchange, with the sender's top-k list.
type ExchangeMsg struct {
	From Descriptor
	Agg  AggMsg
	Top  []Item[string]
}

// AppendShuffle appends the encoding of a shuffle message of the given
// kind (KindShuffle or KindShuffleReply) to b.
func AppendShuffle(b []byte, kind byte, m *ShuffleMsg) ([]byte, error) {
	if kind != KindShuffle && kind != KindShuffleReply {
		return nil, fmt.Errorf("%w: kind %d is not a shuffle", ErrWire, kind)
	}
	if len(m.Links) > MaxView || len(m.Reports) > MaxReports {
		return nil, fmt.Errorf("%w: %d links, %d reports", ErrWire, len(m.Links), len(m.Reports))
	}
	v := WireV1
	if m.From.computes() || slices.ContainsFunc(m.Links, func(l Link) bool { return l.Desc.computes() }) {
		v = WireV2
	}
	if err := checkDesc(m.From); err != nil {
		return nil, err
	}
	b = append(b, v, kind)
	b = appendDesc(b, v, m.From)
	b = binary.AppendUvarint(b, uint64(len(m.Links)))
	for _, l := range m.Links {
		if err := checkDesc(l.Desc); err != nil {
			return nil, err
		}
		b = appendStr(b, l.Peer)
		b = binary.AppendUvarint(b, uint64(l.Age))
		b = appendDesc(b, v, l.Desc)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Reports)))
	for _, r := range m.Reports {
		b = appendStr(b, r.Subject)
		b = appendFloat(b, r.Score)
		b = appendFloat(b, r.Weight)
	}
	return b, checkSize(b)
}

// AppendExchange appends the encoding of an exchange message of the given
// kind (KindExchange or KindExchangeRepl) to b.
func AppendExchange(b []byte, kind byte, m *ExchangeMsg) ([]byte, error) {
	if kind != KindExchange && kind != KindExchangeRepl {
		return nil, fmt.Errorf("%w: kind %d is not an exchange", ErrWire, kind)
	}
	if len(m.Agg.Instances) > MaxInstances || len(m.Agg.Attrs) > MaxAttributes || len(m.Top) > MaxTopK {
		return nil, fmt.Errorf("%w: %d instances, %d attributes, %d top-k items", ErrWire, len(m.Agg.Instances), len(m.Agg.Attrs), len(m.Top))
	}
	if err := checkDesc(m.From); err != nil {
		return nil, err
	}
	v := WireV1
	if m.From.computes() {
		v = WireV2
	}
	b = append(b, v, kind)
	b = appendDesc(b, v, m.From)
	b = binary.AppendUvarint(b, m.Agg.Epoch)
	joined := byte(0)
	if m.Agg.Joined {
		joined = 1
	}
	b = append(b, joined)
	b = binary.AppendUvarint(b, uint64(len(m.Agg.Instances)))
	for _, in := range m.Agg.Instances {
		b = binary.BigEndian.AppendUint64(b, in.Ticket)
		b = appendFloat(b, in.X)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Agg.Attrs)))
	for _, v := range m.Agg.Attrs {
		b = appendFloat(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Top)))
	for _, it := range m.Top {
		b = appendStr(b, it.Peer)
		b = appendKey(b, it.Key)
	}
	return b, checkSize(b)
}

func checkSize(b []byte) error {
	if len(b) > MaxWireSize {
		return fmt.Errorf("%w: %d bytes exceed %d", ErrWire, len(b), MaxWireSize)
	}
	return nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

func appendKey(b []byte, k Key) []byte {
	b = appendFloat(b, k.Value)
	return binary.BigEndian.AppendUint64(b, k.Tie)
}

// checkDesc refuses a descriptor the parser would refuse for its compute
// slots, so that whatever encodes parses.
func checkDesc(d Descriptor) error {
	if d.SlotsFree > d.Slots {
		return fmt.Errorf("%w: %d of %d slots free", ErrWire, d.SlotsFree, d.Slots)
	}
	return nil
}

func appendDesc(b []byte, v byte, d Descriptor) []byte {
	b = appendKey(b, d.Key)
	b = appendStr(b, d.Zone)
	b = binary.AppendVarint(b, d.Capacity)
	b = binary.AppendVarint(b, d.Free)
	if v >= WireV2 {
		b = binary.AppendUvarint(b, uint64(d.Slots))
		b = binary.AppendUvarint(b, uint64(d.SlotsFree))
	}
	return b
}

// MessageKind returns the kind of an encoded message after checking its
// version.
func MessageKind(b []byte) (byte, error) {
	_, k, err := header(b)
	return k, err
}

// header returns an encoded message's version and kind.
func header(b []byte) (version, kind byte, err error) {
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("%w: %d bytes", ErrWire, len(b))
	}
	if b[0] != WireV1 && b[0] != WireV2 {
		return 0, 0, fmt.Errorf("%w: version %d", ErrWire, b[0])
	}
	switch k := b[1]; k {
	case KindShuffle, KindShuffleReply, KindExchange, KindExchangeRepl:
		return b[0], k, nil
	default:
		return 0, 0, fmt.Errorf("%w: kind %d", ErrWire, k)
	}
}

// ParseShuffle decodes a shuffle request or reply.
func ParseShuffle(b []byte) (kind byte, m *ShuffleMsg, err error) {
	v, kind, err := header(b)
	if err != nil {
		return 0, nil, err
	}
	if kind != KindShuffle && kind != KindShuffleReply {
		return 0, nil, fmt.Errorf("%w: kind %d is not a shuffle", ErrWire, kind)
	}
	if len(b) > MaxWireSize {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrWire, len(b))
	}
	r := wire.NewReader(b[2:], ErrWire)
	m = &ShuffleMsg{From: readDesc(r, v)}
	m.Links = make([]Link, r.Count(MaxView, 1+1+16+1+2))
	for i := range m.Links {
		l := &m.Links[i]
		l.Peer = readPeer(r)
		l.Age = uint32(r.Uvarint(math.MaxUint32))
		l.Desc = readDesc(r, v)
	}
	m.Reports = make([]Report[string], r.Count(MaxReports, 1+1+16))
	for i := range m.Reports {
		rep := &m.Reports[i]
		rep.Subject = readPeer(r)
		rep.Score, rep.Weight = readFloat(r), readFloat(r)
		if r.Err() == nil && (!(rep.Score >= 0 && rep.Score <= 1) || !(rep.Weight > 0) || math.IsInf(rep.Weight, 0)) {
			r.Fail("report %d: score %v weight %v", i, rep.Score, rep.Weight)
		}
	}
	r.Done()
	if err := r.Err(); err != nil {
		return 0, nil, err
	}
	return kind, m, nil
}

// ParseExchange decodes an aggregation exchange request or reply.
func ParseExchange(b []byte) (kind byte, m *ExchangeMsg, err error) {
	v, kind, err := header(b)
	if err != nil {
		return 0, nil, err
	}
	if kind != KindExchange && kind != KindExchangeRepl {
		return 0, nil, fmt.Errorf("%w: kind %d is not an exchange", ErrWire, kind)
	}
	if len(b) > MaxWireSize {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrWire, len(b))
	}
	r := wire.NewReader(b[2:], ErrWire)
	m = &ExchangeMsg{From: readDesc(r, v)}
	m.Agg.Epoch = r.Uvarint(math.MaxUint64)
	switch j := r.Byte(); {
	case j == 1:
		m.Agg.Joined = true
	case j > 1:
		r.Fail("joined flag %d", j)
	}
	m.Agg.Instances = make([]Instance, r.Count(MaxInstances, 16))
	for i := range m.Agg.Instances {
		in := &m.Agg.Instances[i]
		in.Ticket = binary.BigEndian.Uint64(pad8(r.Bytes(8)))
		in.X = readFloat(r)
		if r.Err() == nil && (!(in.X >= -1 && in.X <= 1) || i > 0 && in.Ticket <= m.Agg.Instances[i-1].Ticket) {
			r.Fail("instance %d: mass %v, tickets not ascending", i, in.X)
		}
	}
	m.Agg.Attrs = make([]float64, r.Count(MaxAttributes, 8))
	for i := range m.Agg.Attrs {
		m.Agg.Attrs[i] = readFloat(r)
	}
	m.Top = make([]Item[string], r.Count(MaxTopK, 1+1+16))
	for i := range m.Top {
		m.Top[i] = Item[string]{Peer: readPeer(r), Key: readKey(r)}
	}
	r.Done()
	if err := r.Err(); err != nil {
		return 0, nil, err
	}
	return kind, m, nil
}

func pad8(b []byte) []byte {
	if len(b) < 8 {
		return make([]byte, 8)
	}
	return b
}

// readFloat reads a finite float.
func readFloat(r *wire.Reader) float64 {
	f := math.Float64frombits(binary.BigEndian.Uint64(pad8(r.Bytes(8))))
	if r.Err() == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		r.Fail("a float is %v", f)
	}
	return f
}

func readKey(r *wire.Reader) Key {
	v := readFloat(r)
	return Key{Value: v, Tie: binary.BigEndian.Uint64(pad8(r.Bytes(8)))}
}

func readPeer(r *wire.Reader) string {
	p := r.LenBytes(MaxPeerLen)
	if r.Err() == nil && len(p) == 0 {
		r.Fail("an empty peer name")
	}
	return string(p)
}

func readDesc(r *wire.Reader, v byte) Descriptor {
	d := Descriptor{Key: readKey(r), Zone: string(r.LenBytes(MaxZoneLen))}
	d.Capacity, d.Free = readVarint(r), readVarint(r)
	if r.Err() == nil && (d.Capacity < 0 || d.Free < -1) {
		r.Fail("capacity %d, free %d", d.Capacity, d.Free)
	}
	if v >= WireV2 {
		d.Slots = uint16(r.Uvarint(math.MaxUint16))
		d.SlotsFree = uint16(r.Uvarint(math.MaxUint16))
		if r.Err() == nil && d.SlotsFree > d.Slots {
			r.Fail("%d of %d slots free", d.SlotsFree, d.Slots)
		}
	}
	return d
}

// readVarint reads a zig-zag varint.
func readVarint(r *wire.Reader) int64 {
	u := r.Uvarint(math.MaxUint64)
	return int64(u>>1) ^ -int64(u&1)
}
