package proto

import (
	"encoding/binary"
	"fmt"

	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/stripe"
)

// The owner protocol: a holder hands a stripe's owner the newer records
// of its stripes that a repair made (new holders hinted), and the owner
// answers, record by record, whether that record is settled: taken into
// its own record of the stripe, or older than what it has, or of a stripe
// it no longer keeps. An unsettled record (a new holder the owner could
// not find with the shard) is offered again later. Framing is the shard
// protocol's; the owner is the connection's peer.
//
//	request:  version(1) | uvarint n | n × (uvarint len | record | cert)
//
// cert is a repair certificate as the repair protocol encodes it (a 0
// byte: none).
//
//	response: version(1) | status(1) | if OK: uvarint n | n × settled(1)
//	          else: uvarint len | message
const (
	// OwnerID is the owner protocol's libp2p ID (under the cloud's
	// prefix).
	OwnerID = "/repair/1/owner"
	// MaxOwnerBatch bounds the records of one request.
	MaxOwnerBatch = 64
	// MaxOwnerRequest bounds a request frame (OwnerBatches keeps to it).
	MaxOwnerRequest = 4 << 20
	// MaxOwnerResponse bounds a response frame.
	MaxOwnerResponse = 8 + MaxMessage + MaxOwnerBatch
)

// OwnerOffer is one record offered to its stripe's owner, with the
// grant certificate of the repair that made its hints (nil: none; the
// owner then takes no change of holders from it).
type OwnerOffer struct {
	Record *stripe.Record
	Cert   *RepairCert
}

// appendOffer encodes one offer: the record, then its certificate.
func appendOffer(b []byte, o OwnerOffer) ([]byte, error) {
	rb, err := o.Record.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(rb) > stripe.MaxRecordLen {
		return nil, fmt.Errorf("%w: a record of %d bytes exceeds %d", ErrMalformed, len(rb), stripe.MaxRecordLen)
	}
	b = binary.AppendUvarint(b, uint64(len(rb)))
	return appendCert(append(b, rb...), o.Cert)
}

// AppendOwnerRequest encodes a request of 1 to MaxOwnerBatch offers.
func AppendOwnerRequest(b []byte, offers []OwnerOffer) ([]byte, error) {
	if len(offers) == 0 || len(offers) > MaxOwnerBatch {
		return nil, fmt.Errorf("%w: %d records in an owner request, want 1..%d", ErrMalformed, len(offers), MaxOwnerBatch)
	}
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(offers)))
	var err error
	for _, o := range offers {
		if b, err = appendOffer(b, o); err != nil {
			return nil, err
		}
	}
	if len(b) > MaxOwnerRequest {
		return nil, fmt.Errorf("%w: an owner request of %d bytes exceeds %d", ErrMalformed, len(b), MaxOwnerRequest)
	}
	return b, nil
}

// OwnerBatches splits offers into requests within MaxOwnerBatch offers
// and MaxOwnerRequest bytes each.
func OwnerBatches(offers []OwnerOffer) ([][]OwnerOffer, error) {
	var out [][]OwnerOffer
	var cur []OwnerOffer
	size := 1 + binary.MaxVarintLen32
	for _, o := range offers {
		ob, err := appendOffer(nil, o)
		if err != nil {
			return nil, err
		}
		n := len(ob)
		if n+1+binary.MaxVarintLen32 > MaxOwnerRequest {
			return nil, fmt.Errorf("%w: an offer of %d bytes exceeds an owner request", ErrMalformed, n)
		}
		if len(cur) == MaxOwnerBatch || size+n > MaxOwnerRequest {
			out, cur, size = append(out, cur), nil, 1+binary.MaxVarintLen32
		}
		cur, size = append(cur, o), size+n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// ParseOwnerRequest decodes a request body; its records are parsed (form
// only), not verified, nor are their certificates.
func ParseOwnerRequest(b []byte) ([]OwnerOffer, error) {
	if len(b) > MaxOwnerRequest {
		return nil, fmt.Errorf("%w: an owner request of %d bytes exceeds %d", ErrMalformed, len(b), MaxOwnerRequest)
	}
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	n := r.Count(MaxOwnerBatch, 3)
	if r.Err() == nil && n == 0 {
		r.Fail("an empty owner request")
	}
	var out []OwnerOffer
	for i := 0; i < n && r.Err() == nil; i++ {
		rb := r.LenBytes(stripe.MaxRecordLen)
		if r.Err() != nil {
			break
		}
		rec, err := stripe.ParseRecord(rb)
		if err != nil {
			return nil, fmt.Errorf("%w: owner record %d: %w", ErrMalformed, i, err)
		}
		cert := readCert(r)
		out = append(out, OwnerOffer{Record: rec, Cert: cert})
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return out, nil
}

// AppendRepairCert encodes a certificate on its own (nil: none), for a
// store that keeps it beside its record; ParseRepairCert reads it back.
func AppendRepairCert(b []byte, c *RepairCert) ([]byte, error) { return appendCert(b, c) }

// ParseRepairCert decodes what AppendRepairCert encoded, all of b.
func ParseRepairCert(b []byte) (*RepairCert, error) {
	r := wire.NewReader(b, ErrMalformed)
	c := readCert(r)
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return c, nil
}

// AppendOwnerResponse encodes a response: with StatusOK, settled says
// which of the request's records are settled; otherwise msg says why none
// was taken.
func AppendOwnerResponse(b []byte, st Status, settled []bool, msg string) []byte {
	b, ok := appendStatus(b, st, msg)
	if !ok {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(settled)))
	for _, s := range settled {
		if s {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// ParseOwnerResponse decodes a response body.
func ParseOwnerResponse(b []byte) (Status, []bool, string, error) {
	r := wire.NewReader(b, ErrMalformed)
	st, msg, ok := readStatus(r)
	var settled []bool
	if ok {
		n := r.Count(MaxOwnerBatch, 1)
		for i := 0; i < n && r.Err() == nil; i++ {
			switch v := r.Byte(); v {
			case 0, 1:
				settled = append(settled, v == 1)
			default:
				r.Fail("settled byte %d", v)
			}
		}
	}
	r.Done()
	if r.Err() != nil {
		return 0, nil, "", r.Err()
	}
	return st, settled, msg, nil
}

// appendStatus appends a response's version and status, and the message
// when the status is not OK; it reports whether the body goes on (OK).
func appendStatus(b []byte, st Status, msg string) ([]byte, bool) {
	b = append(b, Version, byte(st))
	if st == StatusOK {
		return b, true
	}
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
	}
	b = binary.AppendUvarint(b, uint64(len(msg)))
	return append(b, msg...), false
}

// readStatus reads what appendStatus wrote; it reports whether the body
// goes on (OK, and no error so far).
func readStatus(r *wire.Reader) (Status, string, bool) {
	if v := r.Byte(); r.Err() == nil && v != Version {
		r.Fail("unknown version %d", v)
	}
	st := Status(r.Byte())
	switch {
	case r.Err() != nil:
	case st > StatusRefused:
		r.Fail("unknown status %d", st)
	case st != StatusOK:
		return st, string(r.LenBytes(MaxMessage)), false
	default:
		return st, "", true
	}
	return st, "", false
}
