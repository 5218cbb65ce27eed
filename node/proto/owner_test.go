package proto

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/internal/fuzzseed"
)

// ownerOffers is two offers of one record: with a certificate (a chain
// of two) and without.
func ownerOffers(t testing.TB) []OwnerOffer {
	msgs := repairMsgs(t)
	done := msgs[5] // RepairDone, with its certificate
	return []OwnerOffer{{Record: done.Record, Cert: done.Cert}, {Record: done.Record}}
}

func TestOwnerRoundTrip(t *testing.T) {
	offers := ownerOffers(t)
	b, err := AppendOwnerRequest(nil, offers)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseOwnerRequest(b)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d offers, %v", len(got), err)
	}
	x, _ := offers[0].Record.MarshalBinary()
	y, _ := got[1].Record.MarshalBinary()
	if !bytes.Equal(x, y) {
		t.Fatal("a record parses differently")
	}
	if !reflect.DeepEqual(got[0].Cert, offers[0].Cert) || got[1].Cert != nil {
		t.Fatalf("certificates parse differently: %+v, %+v", got[0].Cert, got[1].Cert)
	}
	if _, err := AppendOwnerRequest(nil, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("an empty request: %v", err)
	}
	for _, c := range []struct {
		st      Status
		settled []bool
		msg     string
	}{{StatusOK, []bool{true, false, true}, ""}, {StatusBusy, nil, "later"}} {
		st, settled, msg, err := ParseOwnerResponse(AppendOwnerResponse(nil, c.st, c.settled, c.msg))
		if err != nil || st != c.st || !slices.Equal(settled, c.settled) || msg != c.msg {
			t.Fatalf("%v %v %q %v, want %+v", st, settled, msg, err, c)
		}
	}
	many := make([]OwnerOffer, MaxOwnerBatch+1)
	for i := range many {
		many[i] = offers[i%2]
	}
	batches, err := OwnerBatches(many)
	if err != nil || len(batches) != 2 || len(batches[0]) != MaxOwnerBatch {
		t.Fatalf("%d batches, %v", len(batches), err)
	}
}

// TestRepairCertAlone: a certificate encoded on its own (as a store
// keeps it) reads back, and none reads back as nil.
func TestRepairCertAlone(t *testing.T) {
	cert := ownerOffers(t)[0].Cert
	for _, c := range []*RepairCert{cert, nil} {
		b, err := AppendRepairCert(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRepairCert(b)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("%+v, %v; want %+v", got, err, c)
		}
		if _, err := ParseRepairCert(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a trailing byte: %v", err)
		}
	}
}

func FuzzParseOwnerRequest(f *testing.F) {
	b, _ := AppendOwnerRequest(nil, ownerOffers(f))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		offers, err := ParseOwnerRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := AppendOwnerRequest(nil, offers)
		if err != nil {
			t.Fatalf("a parsed request does not encode: %v", err)
		}
		offers2, err := ParseOwnerRequest(again)
		if err != nil || len(offers2) != len(offers) {
			t.Fatalf("a re-encoded request does not parse: %v", err)
		}
		for i := range offers {
			x, _ := offers[i].Record.MarshalBinary()
			y, _ := offers2[i].Record.MarshalBinary()
			if !bytes.Equal(x, y) || !reflect.DeepEqual(offers[i].Cert, offers2[i].Cert) {
				t.Fatalf("offer %d parses differently after re-encoding", i)
			}
		}
	})
}

func FuzzParseRepairCert(f *testing.F) {
	b, _ := AppendRepairCert(nil, ownerOffers(f)[0].Cert)
	f.Add(b)
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseRepairCert(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := AppendRepairCert(nil, c)
		if err != nil {
			t.Fatalf("a parsed certificate does not encode: %v", err)
		}
		if c2, err := ParseRepairCert(again); err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("a re-encoded certificate parses differently: %v", err)
		}
	})
}

func FuzzParseOwnerResponse(f *testing.F) {
	f.Add(AppendOwnerResponse(nil, StatusOK, []bool{true, false}, ""))
	f.Add(AppendOwnerResponse(nil, StatusRefused, nil, "no"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, settled, msg, err := ParseOwnerResponse(b)
		if err != nil {
			return
		}
		if len(msg) > MaxMessage || st > StatusRefused || len(settled) > MaxOwnerBatch {
			t.Fatal("response over the limits")
		}
	})
}

// TestWriteOwnerFuzzSeeds refreshes the owner protocol's seed corpora in
// testdata/fuzz when run with -update.
func TestWriteOwnerFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	one, err := AppendOwnerRequest(nil, ownerOffers(t))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := AppendRepairCert(nil, ownerOffers(t)[0].Cert)
	if err != nil {
		t.Fatal(err)
	}
	fuzzseed.WriteCorpora(t, filepath.Join("testdata", "fuzz"), map[string]map[string][]byte{
		"FuzzParseOwnerRequest": {"one": one, "huge-count": {Version, 0xff, 0xff, 0x03}},
		"FuzzParseRepairCert":   {"chain": cert, "none": {0}, "bad-flag": {2}},
		"FuzzParseOwnerResponse": {
			"ok":      AppendOwnerResponse(nil, StatusOK, []bool{true, false}, ""),
			"refused": AppendOwnerResponse(nil, StatusRefused, nil, "no"),
		},
	})
}
