package proto

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	for _, req := range []*Request{
		{Op: OpPut, ID: ids(1)[0], Lease: 60, Data: []byte("x")},
		{Op: OpGet, ID: ids(1)[0]},
		{Op: OpHas, IDs: ids(3)},
		{Op: OpList, Limit: 10},
		{Op: OpRenew, Lease: 5, IDs: ids(2)},
		{Op: OpRelease, IDs: ids(1)},
		{Op: OpPutStripe, Index: 2, Body: []byte("record"), Data: []byte("x")},
		{Op: OpRenewStripes, Body: []byte("renewal")},
	} {
		b, _ := AppendRequest(nil, req)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		again, err := AppendRequest(nil, req)
		if err != nil {
			t.Fatalf("a parsed request does not encode: %v", err)
		}
		if req2, err := ParseRequest(again); err != nil || req2.Op != req.Op || len(req2.IDs) != len(req.IDs) || !bytes.Equal(req2.Data, req.Data) || !bytes.Equal(req2.Body, req.Body) || req2.Index != req.Index {
			t.Fatalf("re-encoded request parses differently: %v", err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add(AppendResponse(nil, OpHas, &Response{Bits: []bool{true, false, true}}), byte(OpHas), 3)
	f.Add(AppendResponse(nil, OpList, &Response{Entries: []Entry{{ids(1)[0], 9}}}), byte(OpList), 0)
	f.Add(AppendResponse(nil, OpGet, &Response{Status: StatusNotFound, Message: "gone"}), byte(OpGet), 0)
	f.Fuzz(func(t *testing.T, b []byte, op byte, n int) {
		resp, err := ParseResponse(b, Op(op), n)
		if err != nil {
			return
		}
		if resp.Status != StatusOK && len(resp.Message) > MaxMessage {
			t.Fatal("message over the limit")
		}
		if len(resp.Entries) > MaxList || len(resp.Bits) > MaxBatch {
			t.Fatal("response over the limits")
		}
	})
}

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpus")

// TestWriteFuzzSeeds refreshes testdata/fuzz when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	write := func(target, name, body string) {
		p := filepath.Join("testdata/fuzz", target, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, req := range []*Request{
		{Op: OpPut, ID: ids(1)[0], Lease: 60, Data: []byte("shard")},
		{Op: OpGet, ID: ids(1)[0]},
		{Op: OpHas, IDs: ids(9)},
		{Op: OpList, Limit: 10},
		{Op: OpRenew, Lease: 5, IDs: ids(2)},
		{Op: OpRelease, IDs: ids(1)},
		{Op: OpPutStripe, Index: 2, Body: []byte("record"), Data: []byte("shard")},
		{Op: OpRecord, Body: []byte("record")},
		{Op: OpRenewStripes, Body: []byte("renewal")},
		{Op: OpReleaseStripes, Body: []byte("releasing")},
	} {
		b, _ := AppendRequest(nil, req)
		write("FuzzParseRequest", fmt.Sprintf("%d-%v", i, req.Op), fmt.Sprintf("[]byte(%q)\n", b))
	}
	write("FuzzParseRequest", "huge-count", "[]byte(\"\\x01\\x03\\xff\\xff\\xff\\xff\\x0f\")\n")
	for i, c := range []struct {
		op   Op
		n    int
		resp *Response
	}{
		{OpHas, 9, &Response{Bits: []bool{true, false, true, false, false, false, false, false, true}}},
		{OpList, 0, &Response{Entries: []Entry{{ids(1)[0], 9}}}},
		{OpGet, 0, &Response{Status: StatusNotFound, Message: "gone"}},
		{OpGet, 0, &Response{Data: []byte("data")}},
	} {
		b := AppendResponse(nil, c.op, c.resp)
		write("FuzzParseResponse", fmt.Sprintf("%d-%v", i, c.op), fmt.Sprintf("[]byte(%q)\nbyte(%d)\nint(%d)\n", b, c.op, c.n))
	}
	_, enc := challenges(t, 3)
	areq, _ := AppendAuditRequest(nil, enc)
	write("FuzzParseAuditRequest", "three", fmt.Sprintf("[]byte(%q)\n", areq))
	write("FuzzParseAuditRequest", "huge-count", "[]byte(\"\\x01\\xff\\xff\\x03\")\n")
	aresp := AppendAuditResponse(nil, StatusOK, "", []AuditAnswer{{Held: true, Proof: []byte("proof")}, {}, {Held: true}})
	write("FuzzParseAuditResponse", "three", fmt.Sprintf("[]byte(%q)\nint(3)\n", aresp))
	write("FuzzParseAuditResponse", "refused", fmt.Sprintf("[]byte(%q)\nint(0)\n", AppendAuditResponse(nil, StatusRefused, "no", nil)))
}
