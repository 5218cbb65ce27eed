package gossip_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/murmur-cloud/murmur/gossip"
)

var (
	updateSeeds  = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")
	updateGolden = flag.Bool("update-golden", false, "write the golden vectors of the newest wire version (testdata/v<n>) where missing or changed; never rerun for a version once committed")
)

func sampleShuffle() *gossip.ShuffleMsg {
	d := gossip.Descriptor{Key: gossip.Key{Value: 0.93, Tie: 77}, Zone: "office", Capacity: 1 << 40, Free: 1 << 39}
	return &gossip.ShuffleMsg{
		From: d,
		Links: []gossip.Link{
			{Peer: "12D3KooWpeerA", Age: 3, Desc: d},
			{Peer: "12D3KooWpeerB", Age: 0, Desc: gossip.Descriptor{Free: -1}},
		},
		Reports: []gossip.Report[string]{{Subject: "12D3KooWpeerC", Score: 0.5, Weight: 12.5}},
	}
}

func sampleExchange() *gossip.ExchangeMsg {
	return &gossip.ExchangeMsg{
		From: gossip.Descriptor{Key: gossip.Key{Value: -2, Tie: 1}, Free: -1},
		Agg: gossip.AggMsg{Epoch: 1234567, Joined: true,
			Instances: []gossip.Instance{{Ticket: 5, X: 0.25}, {Ticket: 9, X: 0}},
			Attrs:     []float64{1e12, -3.5}},
		Top: []gossip.Item[string]{{Peer: "p1", Key: gossip.Key{Value: 1, Tie: 2}}},
	}
}

// The samples with compute slots, which take wire version 2.
func sampleShuffleV2() *gossip.ShuffleMsg {
	m := sampleShuffle()
	m.Links[1].Desc.Slots, m.Links[1].Desc.SlotsFree = 4, 1
	return m
}

func sampleExchangeV2() *gossip.ExchangeMsg {
	m := sampleExchange()
	m.From.Slots, m.From.SlotsFree = 65535, 65535
	return m
}

func TestWireRoundTrip(t *testing.T) {
	for _, c := range []struct {
		kind   byte
		sample func() *gossip.ShuffleMsg
	}{{gossip.KindShuffle, sampleShuffle}, {gossip.KindShuffleReply, sampleShuffle}, {gossip.KindShuffle, sampleShuffleV2}} {
		kind := c.kind
		b, err := gossip.AppendShuffle(nil, kind, c.sample())
		if err != nil {
			t.Fatal(err)
		}
		k, m, err := gossip.ParseShuffle(b)
		if err != nil || k != kind || !reflect.DeepEqual(m, c.sample()) {
			t.Fatalf("shuffle round trip: kind %d, %+v, %v", k, m, err)
		}
		for n := range len(b) {
			if _, _, err := gossip.ParseShuffle(b[:n]); !errors.Is(err, gossip.ErrWire) {
				t.Fatalf("shuffle truncated to %d: %v", n, err)
			}
		}
		if _, _, err := gossip.ParseExchange(b); !errors.Is(err, gossip.ErrWire) {
			t.Fatalf("a shuffle parsed as an exchange: %v", err)
		}
	}
	for _, c := range []struct {
		kind   byte
		sample func() *gossip.ExchangeMsg
	}{{gossip.KindExchange, sampleExchange}, {gossip.KindExchangeRepl, sampleExchange}, {gossip.KindExchangeRepl, sampleExchangeV2}} {
		kind := c.kind
		b, err := gossip.AppendExchange(nil, kind, c.sample())
		if err != nil {
			t.Fatal(err)
		}
		k, m, err := gossip.ParseExchange(b)
		if err != nil || k != kind || !reflect.DeepEqual(m, c.sample()) {
			t.Fatalf("exchange round trip: kind %d, %+v, %v", k, m, err)
		}
		for n := range len(b) {
			if _, _, err := gossip.ParseExchange(b[:n]); !errors.Is(err, gossip.ErrWire) {
				t.Fatalf("exchange truncated to %d: %v", n, err)
			}
		}
	}
}

func TestWireRejects(t *testing.T) {
	good, _ := gossip.AppendShuffle(nil, gossip.KindShuffle, sampleShuffle())
	nan := sampleShuffle()
	nan.Reports[0].Score = math.NaN()
	badScore := sampleShuffle()
	badScore.Reports[0].Score = 1.5
	emptyPeer := sampleShuffle()
	emptyPeer.Links[0].Peer = ""
	backwards := sampleExchange()
	backwards.Agg.Instances[1].Ticket = 1
	inf := sampleExchange()
	inf.Agg.Attrs[0] = math.Inf(1)
	v2, _ := gossip.AppendExchange(nil, gossip.KindExchange, sampleExchangeV2())
	// The sender's slots are its descriptor's last two uvarints (65535
	// and 65535, three bytes each), after the key (16), the empty zone (1),
	// the capacity (1) and the free space (1).
	const slotsAt = 2 + 16 + 1 + 1 + 1
	withSlots := func(slots ...uint64) []byte {
		b := bytes.Clone(v2[:slotsAt])
		for _, n := range slots {
			b = binary.AppendUvarint(b, n)
		}
		return append(b, v2[slotsAt+6:]...)
	}
	cases := map[string][]byte{
		"version":   append([]byte{9}, good[1:]...),
		"version 0": append([]byte{0}, good[1:]...),
		// A version 1 message read as version 2 runs short of slots.
		"v1 as v2":         append([]byte{gossip.WireV2}, good[1:]...),
		"v2 as v1":         append([]byte{gossip.WireV1}, v2[1:]...),
		"slots free > all": withSlots(1, 2),
		"65536 slots":      withSlots(1<<16, 0),
		"kind":             append([]byte{gossip.WireVersion, 42}, good[2:]...),
		"trailing":         append(bytes.Clone(good), 0),
		"huge count":       append(bytes.Clone(good[:2+16+1+1+1]), binary.AppendUvarint(nil, 1<<40)...),
	}
	for name, m := range map[string]*gossip.ShuffleMsg{"NaN score": nan, "score 1.5": badScore, "empty peer": emptyPeer} {
		cases[name], _ = gossip.AppendShuffle(nil, gossip.KindShuffle, m)
	}
	for name, m := range map[string]*gossip.ExchangeMsg{"tickets backwards": backwards, "infinite attribute": inf} {
		cases[name], _ = gossip.AppendExchange(nil, gossip.KindExchange, m)
	}
	for name, b := range cases {
		_, _, err1 := gossip.ParseShuffle(b)
		_, _, err2 := gossip.ParseExchange(b)
		if !errors.Is(err1, gossip.ErrWire) || !errors.Is(err2, gossip.ErrWire) {
			t.Errorf("%s: %v / %v", name, err1, err2)
		}
	}
	over := sampleShuffle()
	over.From.Slots, over.From.SlotsFree = 1, 2
	if _, err := gossip.AppendShuffle(nil, gossip.KindShuffle, over); !errors.Is(err, gossip.ErrWire) {
		t.Fatalf("2 of 1 slots free encoded: %v", err)
	}
	many := sampleShuffle()
	many.Links = make([]gossip.Link, gossip.MaxView+1)
	if _, err := gossip.AppendShuffle(nil, gossip.KindShuffle, many); !errors.Is(err, gossip.ErrWire) {
		t.Fatalf("a shuffle of %d links encoded: %v", len(many.Links), err)
	}
}

func fuzzWire(f *testing.F, parse func([]byte) error) {
	f.Add([]byte{})
	f.Add([]byte{gossip.WireVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := parse(b); err != nil && !errors.Is(err, gossip.ErrWire) {
			t.Fatalf("error %v does not match ErrWire", err)
		}
	})
}

func FuzzParseShuffle(f *testing.F) {
	fuzzWire(f, func(b []byte) error {
		kind, m, err := gossip.ParseShuffle(b)
		if err != nil {
			return err
		}
		again, err := gossip.AppendShuffle(nil, kind, m)
		if err != nil {
			return fmt.Errorf("a parsed shuffle does not encode: %v", err)
		}
		if _, m2, err := gossip.ParseShuffle(again); err != nil || !reflect.DeepEqual(m, m2) {
			return fmt.Errorf("re-encoded shuffle differs: %v", err)
		}
		return nil
	})
}

func FuzzParseExchange(f *testing.F) {
	fuzzWire(f, func(b []byte) error {
		kind, m, err := gossip.ParseExchange(b)
		if err != nil {
			return err
		}
		again, err := gossip.AppendExchange(nil, kind, m)
		if err != nil {
			return fmt.Errorf("a parsed exchange does not encode: %v", err)
		}
		if _, m2, err := gossip.ParseExchange(again); err != nil || !reflect.DeepEqual(m, m2) {
			return fmt.Errorf("re-encoded exchange differs: %v", err)
		}
		return nil
	})
}

// TestWriteFuzzSeeds refreshes the committed seed corpora when run with
// -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		return
	}
	sh, _ := gossip.AppendShuffle(nil, gossip.KindShuffle, sampleShuffle())
	ex, _ := gossip.AppendExchange(nil, gossip.KindExchangeRepl, sampleExchange())
	sh2, _ := gossip.AppendShuffle(nil, gossip.KindShuffle, sampleShuffleV2())
	ex2, _ := gossip.AppendExchange(nil, gossip.KindExchangeRepl, sampleExchangeV2())
	for name, b := range map[string][]byte{
		"FuzzParseShuffle/sample": sh, "FuzzParseExchange/sample": ex,
		"FuzzParseShuffle/sample-v2": sh2, "FuzzParseExchange/sample-v2": ex2,
	} {
		p := filepath.Join("testdata/fuzz", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWireGolden reads the committed messages of each wire version and
// requires today's writer to produce the same bytes: a message without
// compute slots is still written as version 1. Vectors of a version are
// never regenerated (docs/format.md).
func TestWireGolden(t *testing.T) {
	for _, c := range []struct {
		file    string
		version byte
		shuffle *gossip.ShuffleMsg
		exch    *gossip.ExchangeMsg
	}{
		{"v1/shuffle.bin", gossip.WireV1, sampleShuffle(), nil},
		{"v1/exchange.bin", gossip.WireV1, nil, sampleExchange()},
		{"v2/shuffle.bin", gossip.WireV2, sampleShuffleV2(), nil},
		{"v2/exchange.bin", gossip.WireV2, nil, sampleExchangeV2()},
	} {
		var want []byte
		var err error
		if c.shuffle != nil {
			want, err = gossip.AppendShuffle(nil, gossip.KindShuffle, c.shuffle)
		} else {
			want, err = gossip.AppendExchange(nil, gossip.KindExchangeRepl, c.exch)
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join("testdata", c.file)
		if *updateGolden && c.version == gossip.WireVersion {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != c.version {
			t.Errorf("%s: version %d, want %d", c.file, got[0], c.version)
		}
		if c.shuffle != nil {
			if _, m, err := gossip.ParseShuffle(got); err != nil || !reflect.DeepEqual(m, c.shuffle) {
				t.Errorf("%s: %+v, %v", c.file, m, err)
			}
		} else if _, m, err := gossip.ParseExchange(got); err != nil || !reflect.DeepEqual(m, c.exch) {
			t.Errorf("%s: %+v, %v", c.file, m, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: today's writer differs:\n got %x\nwant %x", c.file, want, got)
		}
	}
}
