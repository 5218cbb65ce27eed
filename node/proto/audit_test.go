package proto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/stripe/proof"
)

func challenges(t testing.TB, n int) ([]*proof.Challenge, [][]byte) {
	t.Helper()
	var chs []*proof.Challenge
	var enc [][]byte
	for i, id := range ids(n) {
		ch := &proof.Challenge{Shard: id, Nonce: proof.Nonce{byte(i)}, Leaves: []int{0}}
		b, err := ch.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		chs, enc = append(chs, ch), append(enc, b)
	}
	return chs, enc
}

func TestAuditRoundTrip(t *testing.T) {
	chs, enc := challenges(t, 3)
	b, err := AppendAuditRequest(nil, enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAuditRequest(b)
	if err != nil || len(got) != 3 || got[2].Shard != chs[2].Shard || got[1].Nonce != chs[1].Nonce {
		t.Fatalf("request: %v", err)
	}
	pr, err := proof.Prove([]byte("leaf bytes"), &proof.Challenge{Shard: ids(1)[0], Leaves: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := pr.MarshalBinary()
	answers := []AuditAnswer{{Held: true, Proof: pb}, {}, {Held: true, Proof: []byte("garbage")}}
	st, _, back, err := ParseAuditResponse(AppendAuditResponse(nil, StatusOK, "", answers), 3)
	if err != nil || st != StatusOK || len(back) != 3 || !back[0].Held || back[1].Held || !bytes.Equal(back[2].Proof, []byte("garbage")) {
		t.Fatalf("response: %v %+v", err, back)
	}
	if _, _, _, err := ParseAuditResponse(AppendAuditResponse(nil, StatusOK, "", answers), 2); !errors.Is(err, ErrMalformed) {
		t.Fatalf("three answers to two challenges: %v", err)
	}
	st, msg, _, err := ParseAuditResponse(AppendAuditResponse(nil, StatusBusy, "later", nil), 3)
	if err != nil || st != StatusBusy || msg != "later" {
		t.Fatalf("refusal: %v %v %q", err, st, msg)
	}
	if _, err := AppendAuditRequest(nil, make([][]byte, MaxAuditBatch+1)); err == nil {
		t.Fatal("an oversized batch encoded")
	}
}

func FuzzParseAuditRequest(f *testing.F) {
	_, enc := challenges(f, 2)
	b, _ := AppendAuditRequest(nil, enc)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		chs, err := ParseAuditRequest(b)
		if err != nil {
			return
		}
		var enc [][]byte
		for _, c := range chs {
			e, err := c.MarshalBinary()
			if err != nil {
				t.Fatalf("a parsed challenge does not encode: %v", err)
			}
			enc = append(enc, e)
		}
		again, err := AppendAuditRequest(nil, enc)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParseAuditRequest(again); err != nil || len(back) != len(chs) {
			t.Fatalf("re-encoded request parses differently: %v", err)
		}
	})
}

func FuzzParseAuditResponse(f *testing.F) {
	f.Add(AppendAuditResponse(nil, StatusOK, "", []AuditAnswer{{Held: true, Proof: []byte("p")}, {}}), 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		st, msg, answers, err := ParseAuditResponse(b, n)
		if err != nil {
			return
		}
		if len(msg) > MaxMessage || len(answers) > MaxAuditBatch || (st == StatusOK && len(answers) != n) {
			t.Fatalf("over the limits: %d answers to %d", len(answers), n)
		}
		if st != StatusOK {
			return
		}
		_, _, back, err := ParseAuditResponse(AppendAuditResponse(nil, st, "", answers), n)
		if err != nil || len(back) != len(answers) {
			t.Fatalf("a re-encoded response parses differently: %v", err)
		}
		for i := range back {
			if back[i].Held != answers[i].Held || !bytes.Equal(back[i].Proof, answers[i].Proof) {
				t.Fatalf("answer %d differs", i)
			}
		}
	})
}
