package proto

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/stripe"
)

func TestOwnerRoundTrip(t *testing.T) {
	rec := testRecord(t)
	b, err := AppendOwnerRequest(nil, []*stripe.Record{rec, rec})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseOwnerRequest(b)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	x, _ := rec.MarshalBinary()
	y, _ := got[1].MarshalBinary()
	if !bytes.Equal(x, y) {
		t.Fatal("a record parses differently")
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
	many := make([]*stripe.Record, MaxOwnerBatch+1)
	for i := range many {
		many[i] = rec
	}
	batches, err := OwnerBatches(many)
	if err != nil || len(batches) != 2 || len(batches[0]) != MaxOwnerBatch {
		t.Fatalf("%d batches, %v", len(batches), err)
	}
}

func FuzzParseOwnerRequest(f *testing.F) {
	b, _ := AppendOwnerRequest(nil, []*stripe.Record{testRecord(f)})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ParseOwnerRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := AppendOwnerRequest(nil, recs)
		if err != nil {
			t.Fatalf("a parsed request does not encode: %v", err)
		}
		recs2, err := ParseOwnerRequest(again)
		if err != nil || len(recs2) != len(recs) {
			t.Fatalf("a re-encoded request does not parse: %v", err)
		}
		for i := range recs {
			x, _ := recs[i].MarshalBinary()
			y, _ := recs2[i].MarshalBinary()
			if !bytes.Equal(x, y) {
				t.Fatalf("record %d parses differently after re-encoding", i)
			}
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
	one, err := AppendOwnerRequest(nil, []*stripe.Record{testRecord(t)})
	if err != nil {
		t.Fatal(err)
	}
	fuzzseed.WriteCorpora(t, filepath.Join("testdata", "fuzz"), map[string]map[string][]byte{
		"FuzzParseOwnerRequest": {"one": one, "huge-count": {Version, 0xff, 0xff, 0x03}},
		"FuzzParseOwnerResponse": {
			"ok":      AppendOwnerResponse(nil, StatusOK, []bool{true, false}, ""),
			"refused": AppendOwnerResponse(nil, StatusRefused, nil, "no"),
		},
	})
}
