package proto

import (
	"encoding/binary"
	"fmt"

	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// The audit protocol: an auditor sends a holder a batch of challenges
// (stripe/proof) in one request frame; the holder answers each, in order,
// in one response frame. Framing is the shard protocol's.
//
//	request:  version(1) | uvarint n | n × (uvarint len | challenge)
//	response: version(1) | status(1) | fields
//	  OK:     uvarint n | n × (held(1): 0 or 1 | if 1: uvarint len | proof)
//	  not OK: uvarint len | message (at most MaxMessage bytes)
//
// A response answers exactly the request's n challenges; held 0 says the
// holder does not have the shard.
const (
	// AuditID is the audit protocol's libp2p ID (under the cloud's prefix).
	AuditID = "/audit/1"
	// MaxAuditBatch bounds the challenges of one request.
	MaxAuditBatch = 64
	// MaxAuditRequest and MaxAuditResponse bound the frames.
	MaxAuditRequest  = 8 + MaxAuditBatch*(3+proof.MaxChallengeLen)
	MaxAuditResponse = 8 + MaxMessage + MaxAuditBatch*(1+4+proof.MaxProofLen)
)

// AuditAnswer is a holder's answer to one challenge.
type AuditAnswer struct {
	Held  bool
	Proof []byte // the encoded proof, when Held
}

// AppendAuditRequest appends the request body of the encoded challenges.
func AppendAuditRequest(b []byte, challenges [][]byte) ([]byte, error) {
	if len(challenges) > MaxAuditBatch {
		return nil, fmt.Errorf("%w: %d challenges, at most %d", ErrMalformed, len(challenges), MaxAuditBatch)
	}
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(challenges)))
	for _, c := range challenges {
		if len(c) > proof.MaxChallengeLen {
			return nil, fmt.Errorf("%w: a challenge of %d bytes", ErrMalformed, len(c))
		}
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b, nil
}

// ParseAuditRequest decodes a request body into its challenges (parsed:
// a challenge that does not parse makes the request malformed).
func ParseAuditRequest(b []byte) ([]*proof.Challenge, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	n := r.Count(MaxAuditBatch, 2)
	var out []*proof.Challenge
	for range n {
		c := r.LenBytes(proof.MaxChallengeLen)
		if r.Err() != nil {
			break
		}
		ch, err := proof.ParseChallenge(c)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		out = append(out, ch)
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return out, nil
}

// AppendAuditResponse appends a response body: the answers when st is
// OK, else the message.
func AppendAuditResponse(b []byte, st Status, msg string, answers []AuditAnswer) []byte {
	b, ok := appendStatus(b, st, msg)
	if !ok {
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(answers)))
	for _, a := range answers {
		if !a.Held {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(a.Proof)))
		b = append(b, a.Proof...)
	}
	return b
}

// ParseAuditResponse decodes a response body answering n challenges. The
// proofs alias b; they are parsed and verified by the auditor.
func ParseAuditResponse(b []byte, n int) (Status, string, []AuditAnswer, error) {
	r := wire.NewReader(b, ErrMalformed)
	st, msg, ok := readStatus(r)
	var out []AuditAnswer
	if ok {
		if k := r.Count(MaxAuditBatch, 1); r.Err() == nil && k != n {
			r.Fail("%d answers to %d challenges", k, n)
		}
		for i := 0; i < n && r.Err() == nil; i++ {
			switch h := r.Byte(); {
			case r.Err() != nil:
			case h == 0:
				out = append(out, AuditAnswer{})
			case h == 1:
				out = append(out, AuditAnswer{Held: true, Proof: r.LenBytes(proof.MaxProofLen)})
			default:
				r.Fail("held flag %d", h)
			}
		}
	}
	r.Done()
	if r.Err() != nil {
		return 0, "", nil, r.Err()
	}
	return st, msg, out, nil
}
