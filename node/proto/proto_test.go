package proto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
)

func ids(n int) []erasure.ShardID {
	out := make([]erasure.ShardID, n)
	for i := range out {
		out[i] = erasure.SumShard([]byte{byte(i), byte(i >> 8)})
	}
	return out
}

func TestRequestRoundTrip(t *testing.T) {
	for _, req := range []*Request{
		{Op: OpPut, ID: ids(1)[0], Lease: 3600, Data: []byte("shard bytes")},
		{Op: OpPut, ID: ids(1)[0], Data: []byte{}},
		{Op: OpGet, ID: ids(2)[1]},
		{Op: OpHas, IDs: ids(17)},
		{Op: OpHas, IDs: []erasure.ShardID{}},
		{Op: OpList, ID: ids(3)[2], Limit: 100},
		{Op: OpRenew, Lease: 86400, IDs: ids(5)},
		{Op: OpRelease, IDs: ids(MaxBatch)},
	} {
		b, err := AppendRequest(nil, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("%v: %v", req.Op, err)
		}
		if got.Data == nil && req.Data != nil {
			got.Data = []byte{}
		}
		if fmt.Sprint(got) != fmt.Sprint(req) {
			t.Fatalf("%v round trip:\n got %+v\nwant %+v", req.Op, got, req)
		}
		for n := range len(b) {
			if req.Op == OpPut && n >= 2+32+2 {
				break // a shorter Put is a Put of fewer bytes
			}
			if _, err := ParseRequest(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v truncated to %d: %v", req.Op, n, err)
			}
		}
	}
}

func TestRequestRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        {},
		"version":      {9, byte(OpGet)},
		"unknown op":   {Version, 99},
		"trailing":     append(append([]byte{Version, byte(OpGet)}, make([]byte, 32)...), 0),
		"huge batch":   {Version, byte(OpHas), 0xff, 0xff, 0x03},
		"long lease":   append(append([]byte{Version, byte(OpPut)}, make([]byte, 32)...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"list too big": append(append([]byte{Version, byte(OpList)}, make([]byte, 32)...), 0xff, 0xff, 0x01),
	} {
		if _, err := ParseRequest(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := AppendRequest(nil, &Request{Op: 77}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown op encoded: %v", err)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		op   Op
		n    int
		resp *Response
	}{
		{OpPut, 0, &Response{Status: StatusOK}},
		{OpPut, 0, &Response{Status: StatusFull, Message: "quota"}},
		{OpGet, 0, &Response{Status: StatusOK, Data: []byte("data")}},
		{OpGet, 0, &Response{Status: StatusNotFound, Message: "no such shard"}},
		{OpHas, 11, &Response{Status: StatusOK, Bits: []bool{true, false, true, true, false, false, false, false, true, false, true}}},
		{OpRenew, 0, &Response{Status: StatusOK, Bits: []bool{}}},
		{OpList, 0, &Response{Status: StatusOK, Entries: []Entry{{ids(1)[0], 5}, {ids(2)[1], 1 << 20}}}},
		{OpRelease, 0, &Response{Status: StatusOK}},
	} {
		b := AppendResponse(nil, tt.op, tt.resp)
		got, err := ParseResponse(b, tt.op, tt.n)
		if err != nil {
			t.Fatalf("%v: %v", tt.op, err)
		}
		if got.Data == nil && tt.resp.Data != nil {
			got.Data = []byte{}
		}
		if got.Entries == nil && tt.resp.Entries != nil {
			got.Entries = []Entry{}
		}
		if !reflect.DeepEqual(got, tt.resp) {
			t.Fatalf("%v round trip:\n got %+v\nwant %+v", tt.op, got, tt.resp)
		}
	}
	if _, err := ParseResponse([]byte{Version, 42}, OpGet, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown status: %v", err)
	}
	if _, err := ParseResponse([]byte{Version, byte(StatusOK), 1}, OpHas, 20); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short bitmap: %v", err)
	}
	long := AppendResponse(nil, OpPut, &Response{Status: StatusInternal, Message: string(make([]byte, 5000))})
	if got, err := ParseResponse(long, OpPut, 0); err != nil || len(got.Message) != MaxMessage {
		t.Fatalf("a long message is cut to MaxMessage: %v", err)
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte("ab"), []byte("cde")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&buf)
	n, err := ReadFrameSize(r, 10)
	if err != nil || n != 5 {
		t.Fatalf("ReadFrameSize = %d, %v", n, err)
	}
	if _, err := ReadFrameSize(bufio.NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0x7f})), 1000); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized frame: %v", err)
	}
	if _, err := ReadFrameSize(bufio.NewReader(bytes.NewReader(nil)), 1000); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty stream: %v", err)
	}
}

// TestFullListFits: a full List page of the largest shards fits the frame
// the client accepts for it.
func TestFullListFits(t *testing.T) {
	resp := &Response{Entries: make([]Entry, MaxList)}
	for i := range resp.Entries {
		resp.Entries[i] = Entry{ID: ids(1)[0], Size: erasure.MaxShardSize}
	}
	if b := AppendResponse(nil, OpList, resp); len(b) > MaxFrameFor(OpList) {
		t.Fatalf("a full List answer is %d bytes, the frame limit %d", len(b), MaxFrameFor(OpList))
	}
}
