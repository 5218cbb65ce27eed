package compute_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// testStripe returns a valid descriptor with one data shard of each of
// sizes and one parity shard.
func testStripe(t testing.TB, sizes ...int) *erasure.Descriptor {
	t.Helper()
	d := &erasure.Descriptor{K: len(sizes), M: 1}
	for i, n := range sizes {
		id := erasure.SumShard(nil)
		if n > 0 {
			id = erasure.SumShard([]byte{byte(i), byte(n), byte(n >> 8)})
		}
		d.Shards = append(d.Shards, erasure.Shard{ID: id, Size: n})
		d.ShardSize = max(d.ShardSize, n)
	}
	d.Shards = append(d.Shards, erasure.Shard{ID: erasure.SumShard([]byte("parity")), Size: d.ShardSize})
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

// testKey returns a valid object key whose bytes are derived from seed.
func testKey(t testing.TB, version byte, seed byte) crypt.ObjectKey {
	t.Helper()
	b := make([]byte, crypt.ObjectKeyLen)
	b[0], b[1] = version, byte(crypt.PurposeChunk)
	for i := 2; i < len(b); i++ {
		b[i] = seed + byte(i)
	}
	k, err := crypt.ParseObjectKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testTask returns a valid map task over data shard 1 of a two-shard
// stripe. Its Index is below 128, it has no Args and no Name, and its
// DeadlineMillis and MaxOutput are below 128, so that its flags lie at
// fixed offsets (flagState, and the key flag 20 bytes from the end).
func testTask(t testing.TB) *compute.Task {
	t.Helper()
	task := &compute.Task{
		Index:          7,
		Mode:           compute.ModeMap,
		Stripe:         testStripe(t, 4096, 3000),
		Shard:          1,
		Size:           100,
		Offset:         50,
		DeadlineMillis: 100,
		MaxOutput:      99,
	}
	for i := range task.Job {
		task.Job[i] = byte(i + 1)
	}
	for i := range task.Module {
		task.Module[i] = byte(0x40 + i)
	}
	for i := range task.Chunk {
		task.Chunk[i] = byte(0x80 + i)
	}
	for i := range task.Nonce {
		task.Nonce[i] = byte(0xc0 + i)
	}
	return task
}

// Offsets in testTask's encoding.
const (
	flagState = 2 + 16 + 1 + 32 + 1 + 1 + 1 // header, job, index, module, mode, no args, empty name
	flagFinal = flagState + 2               // after the state's flag and its empty length
)

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireTasks are the tasks every round-trip and hostile test covers.
func wireTasks(t testing.TB) map[string]*compute.Task {
	t.Helper()
	out := map[string]*compute.Task{}
	out["map"] = testTask(t)

	keyed := testTask(t)
	keyed.Key = testKey(t, crypt.VersionKeyed, 3)
	keyed.Args = []string{"-n", "", "three"}
	keyed.First, keyed.Last = true, true
	out["map-keyed-args"] = keyed

	for name, state := range map[string][]byte{"nil": nil, "empty": {}, "set": []byte("state\x00\xff")} {
		f := testTask(t)
		f.Mode, f.Name, f.State = compute.ModeFold, "dir/file.txt", state
		f.Final = name == "set"
		f.Key = testKey(t, crypt.Version, 9)
		out["fold-state-"+name] = f
	}

	big := testTask(t)
	big.Index = 1 << 30
	big.Stripe = testStripe(t, 0, 1<<20, 77)
	big.Size, big.Offset, big.Stored = 1000, 1<<20-1000-crypt.Overhead, 0
	big.DeadlineMillis, big.MaxOutput, big.Memory = int(compute.MaxDeadline/time.Millisecond), compute.MaxOutput, compute.MaxMemory
	out["bounds"] = big

	stored := testTask(t)
	stored.Size, stored.Stored, stored.Offset = 5000, crypt.Overhead, 3000-crypt.Overhead
	out["stored-at-end"] = stored
	return out
}

// testShard returns n deterministic pseudo-random bytes.
func testShard(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// testProof returns a valid proof of a small shard.
func testProof(t testing.TB) *proof.Proof {
	t.Helper()
	shard := testShard(300, 1)
	p, err := proof.Prove(shard, &proof.Challenge{Shard: erasure.SumShard(shard), Leaves: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wireNeeds(t testing.TB) map[string]*compute.Need {
	t.Helper()
	return map[string]*compute.Need{
		"module": {Module: true},
		"proof":  {Proof: testProof(t)},
		"both":   {Module: true, Proof: testProof(t)},
	}
}

func wireGrants(t testing.TB) map[string]*compute.Grant {
	t.Helper()
	return map[string]*compute.Grant{
		"key":       {Key: testKey(t, crypt.Version, 1)},
		"keyed-key": {Key: testKey(t, crypt.VersionKeyed, 2)},
		"refusal":   {Refuse: "the proof does not verify"},
	}
}

// allStatuses are the statuses a Result may carry.
var allStatuses = []compute.Status{
	compute.StatusOK, compute.StatusBusy, compute.StatusNoShard, compute.StatusRefused,
	compute.StatusInternal, compute.StatusExit, compute.StatusDeadline, compute.StatusMemory,
	compute.StatusOutput, compute.StatusBadInput, compute.StatusBadMod,
}

func wireResults() map[string]*compute.Result {
	out := map[string]*compute.Result{}
	for _, s := range allStatuses {
		out[strings.ReplaceAll(s.String(), " ", "-")] = &compute.Result{Status: s, Message: "what " + s.String() + " means"}
	}
	out["ok-full"] = &compute.Result{Status: compute.StatusOK, Output: []byte("a\tb\n"), Head: []byte("end\n"),
		Tail: []byte("sta"), Local: true, Fetched: 1 << 40}
	out["ok-continues"] = &compute.Result{Status: compute.StatusOK, Head: []byte("no line end"), Continues: true}
	out["exit"] = &compute.Result{Status: compute.StatusExit, Code: 1<<32 - 1, Message: "exit status 4294967295"}
	return out
}

// normResult makes nil and empty byte slices alike: the wire does not
// tell them apart.
func normResult(r *compute.Result) compute.Result {
	c := *r
	for _, b := range []*[]byte{&c.Output, &c.Head, &c.Tail} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	return c
}

func TestWireTaskRoundTrip(t *testing.T) {
	for name, task := range wireTasks(t) {
		t.Run(name, func(t *testing.T) {
			b := mustMarshal(t, task)
			got, err := compute.ParseTask(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, task) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, task)
			}
			if (got.State == nil) != (task.State == nil) {
				t.Fatalf("state nil %v, want %v", got.State == nil, task.State == nil)
			}
			if again := mustMarshal(t, got); !bytes.Equal(again, b) {
				t.Fatal("re-encoding differs")
			}
			if got.SealedSize() != task.SealedSize() {
				t.Fatalf("sealed size %d, want %d", got.SealedSize(), task.SealedSize())
			}
		})
	}
}

func TestWireTaskMarshalRefuses(t *testing.T) {
	for name, mutate := range map[string]func(*compute.Task){
		"no stripe":    func(t *compute.Task) { t.Stripe = nil },
		"bad stripe":   func(t *compute.Task) { t.Stripe.K = 0 },
		"many args":    func(t *compute.Task) { t.Args = make([]string, compute.MaxArgs+1) },
		"long arg":     func(t *compute.Task) { t.Args = []string{string(make([]byte, compute.MaxArgLen+1))} },
		"long name":    func(t *compute.Task) { t.Name = string(make([]byte, compute.MaxArgLen+1)) },
		"large state":  func(t *compute.Task) { t.State = make([]byte, compute.MaxState+1) },
		"empty stripe": func(t *compute.Task) { t.Stripe = &erasure.Descriptor{} },
	} {
		task := testTask(t)
		mutate(task)
		if _, err := task.MarshalBinary(); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
}

func TestWireNeedRoundTrip(t *testing.T) {
	for name, n := range wireNeeds(t) {
		t.Run(name, func(t *testing.T) {
			b := mustMarshal(t, n)
			got, err := compute.ParseNeed(b)
			if err != nil {
				t.Fatal(err)
			}
			// A proof's empty path may come back non-nil: compare encodings.
			if got.Module != n.Module || (got.Proof == nil) != (n.Proof == nil) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, n)
			}
			if n.Proof != nil && !bytes.Equal(mustMarshal(t, got.Proof), mustMarshal(t, n.Proof)) {
				t.Fatal("the proof changed")
			}
			if !bytes.Equal(mustMarshal(t, got), b) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

func TestWireGrantRoundTrip(t *testing.T) {
	for name, g := range wireGrants(t) {
		t.Run(name, func(t *testing.T) {
			got, err := compute.ParseGrant(mustMarshal(t, g))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, g) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, g)
			}
		})
	}
	// A refusal longer than the protocol allows is cut, not refused.
	long := &compute.Grant{Refuse: string(bytes.Repeat([]byte("x"), compute.MaxMessage+10))}
	got, err := compute.ParseGrant(mustMarshal(t, long))
	if err != nil || len(got.Refuse) != compute.MaxMessage {
		t.Fatalf("long refusal: %v, %d bytes", err, len(got.Refuse))
	}
}

func TestWireResultRoundTrip(t *testing.T) {
	for name, r := range wireResults() {
		t.Run(name, func(t *testing.T) {
			got, err := compute.ParseResult(mustMarshal(t, r))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := normResult(got), normResult(r); !reflect.DeepEqual(g, w) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", g, w)
			}
			if got.Digest() != r.Digest() {
				t.Fatal("digest changed")
			}
		})
	}
	long := &compute.Result{Status: compute.StatusInternal, Message: string(bytes.Repeat([]byte("y"), compute.MaxMessage+1))}
	if got, err := compute.ParseResult(mustMarshal(t, long)); err != nil || len(got.Message) != compute.MaxMessage {
		t.Fatalf("long message: %v", err)
	}
	over := &compute.Result{Status: compute.StatusOK, Head: make([]byte, compute.MaxFragment+1)}
	if _, err := over.MarshalBinary(); err == nil {
		t.Fatal("a head over MaxFragment marshalled")
	}
}

func TestWireDigest(t *testing.T) {
	base := compute.Result{Status: compute.StatusOK, Output: []byte("ab"), Head: []byte("c")}
	same := base
	same.Message, same.Local, same.Fetched = "ignored", true, 99
	if base.Digest() != same.Digest() {
		t.Fatal("the digest covers the message or the input's origin")
	}
	for name, r := range map[string]compute.Result{
		"status":    {Status: compute.StatusExit, Output: []byte("ab"), Head: []byte("c")},
		"code":      {Status: compute.StatusOK, Code: 1, Output: []byte("ab"), Head: []byte("c")},
		"continues": {Status: compute.StatusOK, Output: []byte("ab"), Head: []byte("c"), Continues: true},
		"shifted":   {Status: compute.StatusOK, Output: []byte("a"), Head: []byte("bc")},
		"tail":      {Status: compute.StatusOK, Output: []byte("ab"), Tail: []byte("c")},
	} {
		if r.Digest() == base.Digest() {
			t.Errorf("%s: same digest", name)
		}
	}
}

// encodings returns every valid encoding the hostile tests start from,
// by parser.
func encodings(t testing.TB) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{"task": {}, "need": {}, "grant": {}, "result": {}}
	for n, v := range wireTasks(t) {
		out["task"][n] = mustMarshal(t, v)
	}
	for n, v := range wireNeeds(t) {
		out["need"][n] = mustMarshal(t, v)
	}
	for n, v := range wireGrants(t) {
		out["grant"][n] = mustMarshal(t, v)
	}
	for n, v := range wireResults() {
		out["result"][n] = mustMarshal(t, v)
	}
	return out
}

var parsers = map[string]func([]byte) error{
	"task":   func(b []byte) error { _, err := compute.ParseTask(b); return err },
	"need":   func(b []byte) error { _, err := compute.ParseNeed(b); return err },
	"grant":  func(b []byte) error { _, err := compute.ParseGrant(b); return err },
	"result": func(b []byte) error { _, err := compute.ParseResult(b); return err },
}

func wantMalformed(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: parsed", what)
	case !errors.Is(err, compute.ErrMalformed):
		t.Errorf("%s: %v does not wrap ErrMalformed", what, err)
	}
}

func TestWireTruncated(t *testing.T) {
	for kind, encs := range encodings(t) {
		for name, b := range encs {
			for n := range len(b) {
				wantMalformed(t, fmt.Sprintf("%s %s cut to %d of %d", kind, name, n, len(b)), parsers[kind](b[:n:n]))
			}
		}
	}
}

func TestWireTrailingAndHeader(t *testing.T) {
	for kind, encs := range encodings(t) {
		for name, b := range encs {
			what := kind + " " + name
			wantMalformed(t, what+" with a trailing byte", parsers[kind](append(bytes.Clone(b), 0)))
			for _, i := range []int{0, 1} {
				for _, v := range []byte{0, b[i] + 1, 0xff} {
					c := bytes.Clone(b)
					c[i] = v
					wantMalformed(t, fmt.Sprintf("%s with header byte %d = %d", what, i, v), parsers[kind](c))
				}
			}
			// Any other message type is refused.
			for other, p := range parsers {
				if other != kind {
					wantMalformed(t, what+" parsed as a "+other, p(b))
				}
			}
		}
	}
}

// TestWireFlipped flips every bit of every encoding: the parser never
// panics, and refuses with ErrMalformed whatever it refuses.
func TestWireFlipped(t *testing.T) {
	for kind, encs := range encodings(t) {
		for name, b := range encs {
			if len(b) > 4096 {
				b = b[:4096] // the rest is more of the same (proof leaves)
			}
			for i := range b {
				for bit := range 8 {
					c := bytes.Clone(b)
					c[i] ^= 1 << bit
					if err := parsers[kind](c); err != nil && !errors.Is(err, compute.ErrMalformed) {
						t.Errorf("%s %s, bit %d of byte %d flipped: %v does not wrap ErrMalformed", kind, name, bit, i, err)
					}
				}
			}
		}
	}
}

func TestWireTaskHostile(t *testing.T) {
	enc := func(mutate func(*compute.Task)) []byte {
		task := testTask(t)
		mutate(task)
		return mustMarshal(t, task)
	}
	base := enc(func(*compute.Task) {})
	if base[flagState] != 0 || base[flagFinal] != 0 || base[len(base)-20] != 0 {
		t.Fatal("testTask's flags are not where the test expects")
	}
	cases := map[string][]byte{
		// Task 1 is data shard 1 of 3000 bytes.
		"overruns":         enc(func(k *compute.Task) { k.Offset = 3000 - k.SealedSize() + 1 }),
		"overruns-stored":  enc(func(k *compute.Task) { k.Stored, k.Offset = 3001-50, 50 }),
		"offset-past-end":  enc(func(k *compute.Task) { k.Offset = 3000 }),
		"parity-shard":     enc(func(k *compute.Task) { k.Shard = 2; k.Offset = 0 }),
		"shard-past-all":   enc(func(k *compute.Task) { k.Shard = 3; k.Offset = 0 }),
		"shard-max":        enc(func(k *compute.Task) { k.Shard = erasure.MaxShards; k.Offset = 0 }),
		"shard-over-max":   enc(func(k *compute.Task) { k.Shard = erasure.MaxShards + 1; k.Offset = 0 }),
		"mode-0":           enc(func(k *compute.Task) { k.Mode = 0 }),
		"mode-3":           enc(func(k *compute.Task) { k.Mode = 3 }),
		"mode-255":         enc(func(k *compute.Task) { k.Mode = 255 }),
		"stored-too-short": enc(func(k *compute.Task) { k.Stored = crypt.Overhead - 1 }),
		"index-over":       enc(func(k *compute.Task) { k.Index = 1<<30 + 1 }),
		"deadline-over":    enc(func(k *compute.Task) { k.DeadlineMillis = int(compute.MaxDeadline/time.Millisecond) + 1 }),
		"output-over":      enc(func(k *compute.Task) { k.MaxOutput = compute.MaxOutput + 1 }),
		"empty-shard":      enc(func(k *compute.Task) { k.Stripe = testStripe(t, 4096, 0); k.Offset = 0 }),
	}
	for _, f := range []struct {
		name string
		at   int
	}{{"state", flagState}, {"final", flagFinal}, {"first", flagFinal + 1}, {"last", flagFinal + 2}, {"key", len(base) - 20}} {
		for _, v := range []byte{2, 0x80, 0xff} {
			c := bytes.Clone(base)
			c[f.at] = v
			cases[fmt.Sprintf("flag-%s-%#x", f.name, v)] = c
		}
	}
	// A state without its flag.
	st := enc(func(k *compute.Task) { k.State = []byte("xy") })
	st[flagState] = 0
	cases["state-without-flag"] = st
	// A key flag with a key that does not parse (version 0).
	keyed := enc(func(k *compute.Task) { k.Key = testKey(t, crypt.Version, 0) })
	kat := len(keyed) - 20 - crypt.ObjectKeyLen
	if keyed[kat] != 1 || keyed[kat+1] != crypt.Version {
		t.Fatal("the key is not where the test expects")
	}
	for name, at := range map[string]int{"key-version": kat + 1, "key-purpose": kat + 2} {
		c := bytes.Clone(keyed)
		c[at] = 0
		cases[name] = c
	}
	for name, b := range cases {
		_, err := compute.ParseTask(b)
		wantMalformed(t, name, err)
	}
	// The chunk may end exactly at the shard's end.
	ok := enc(func(k *compute.Task) { k.Offset = 3000 - k.SealedSize() })
	if _, err := compute.ParseTask(ok); err != nil {
		t.Fatalf("a chunk ending its shard: %v", err)
	}
}

func TestWireNeedGrantResultHostile(t *testing.T) {
	h := func(typ byte, rest ...byte) []byte { return append([]byte{typ, compute.WireVersion}, rest...) }
	const need, grant, result = 4, 3, 5
	pb := mustMarshal(t, testProof(t))
	for name, b := range map[string][]byte{
		"nothing":           h(need, 0, 0),
		"module-flag-2":     h(need, 2, 0),
		"proof-flag-2":      h(need, 1, 2),
		"proof-empty":       h(need, 0, 1, 0),
		"proof-garbage":     h(need, 0, 1, 3, 1, 2, 3),
		"proof-short":       append(binary.AppendUvarint(h(need, 0, 1), uint64(len(pb))), pb[:len(pb)-1]...),
		"proof-huge-length": h(need, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		_, err := compute.ParseNeed(b)
		wantMalformed(t, "need "+name, err)
	}
	for name, b := range map[string][]byte{
		"empty-refusal": h(grant, 0, 0),
		"flag-2":        h(grant, 2, 1, 'x'),
		"zero-key":      h(grant, append([]byte{1}, make([]byte, crypt.ObjectKeyLen)...)...),
		"long-refusal":  append(h(grant, 0, 0x81, 0x20), make([]byte, compute.MaxMessage+1)...),
	} {
		_, err := compute.ParseGrant(b)
		wantMalformed(t, "grant "+name, err)
	}
	okResult := mustMarshal(t, &compute.Result{Status: compute.StatusOK})
	for name, mutate := range map[string]func([]byte){
		"status-0":       func(b []byte) { b[2] = 0 },
		"status-6":       func(b []byte) { b[2] = 6 },
		"status-15":      func(b []byte) { b[2] = 15 },
		"status-22":      func(b []byte) { b[2] = 22 },
		"continues-flag": func(b []byte) { b[len(b)-3] = 2 },
		"local-flag":     func(b []byte) { b[len(b)-2] = 0xff },
	} {
		b := bytes.Clone(okResult)
		mutate(b)
		_, err := compute.ParseResult(b)
		wantMalformed(t, "result "+name, err)
	}
	// A code over 32 bits, a fetched count over 2^50.
	code := h(result, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0, 0, 0, 0)
	_, err := compute.ParseResult(code)
	wantMalformed(t, "result code 2^32", err)
	fetched := append(h(result, 1, 0, 0, 0, 0, 0, 0, 0), 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02)
	_, err = compute.ParseResult(fetched)
	wantMalformed(t, "result fetched 2^50+", err)
}

// TestKeyChallenge proves the key nonce of chunks whose nonce lies around
// a leaf boundary, and around the end of a shard's short last leaf.
func TestKeyChallenge(t *testing.T) {
	shard := testShard(2*proof.LeafSize+500, 7)
	root := proof.RootOf(shard)
	stripe := testStripe(t, len(shard), 10)
	stripe.Shards[0].ID = erasure.SumShard(shard)
	var offs []int
	for off := proof.LeafSize - 13; off <= proof.LeafSize+1; off++ {
		offs = append(offs, off)
	}
	offs = append(offs, 0, 2*proof.LeafSize-13, 2*proof.LeafSize-1, len(shard)-crypt.Overhead)
	for _, off := range offs {
		task := testTask(t)
		task.Stripe, task.Shard, task.Offset, task.Size = stripe, 0, off, 0
		if _, err := compute.ParseTask(mustMarshal(t, task)); err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		ch := compute.KeyChallenge(task)
		lo := (off + crypt.KeyNonceOffset) / proof.LeafSize
		hi := (off + crypt.KeyNonceOffset + crypt.KeyNonceLen - 1) / proof.LeafSize
		if ch.Leaves[0] != lo || ch.Leaves[len(ch.Leaves)-1] != hi || len(ch.Leaves) != hi-lo+1 {
			t.Fatalf("offset %d: leaves %v, want %d..%d", off, ch.Leaves, lo, hi)
		}
		if ch.Shard != stripe.Shards[0].ID || ch.Nonce != task.Nonce {
			t.Fatalf("offset %d: a challenge for another shard or nonce", off)
		}
		p, err := proof.Prove(shard, ch)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if err := proof.Verify(root, ch, p); err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		nonce, err := compute.KeyNonceFrom(task, p)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		if want := shard[off+1 : off+13]; !bytes.Equal(nonce, want) {
			t.Fatalf("offset %d: nonce %x, want %x", off, nonce, want)
		}
		if crypt.KeyNonceOffset != 1 || crypt.KeyNonceLen != 12 {
			t.Fatal("the key nonce moved: fix this test's expectation")
		}
		// A proof missing a leaf the nonce spans does not give it.
		if len(p.Leaves) > 1 {
			for k := range p.Leaves {
				short := *p
				short.Leaves = append(append([]proof.Leaf{}, p.Leaves[:k]...), p.Leaves[k+1:]...)
				if _, err := compute.KeyNonceFrom(task, &short); err == nil {
					t.Fatalf("offset %d: a nonce from a proof without leaf %d", off, p.Leaves[k].Index)
				}
			}
		}
	}
}

// fuzzRoundTrip checks what every fuzz target checks: the input is refused
// with ErrMalformed, or it parses to a value that encodes and parses back
// to an equal value with the same encoding.
func fuzzRoundTrip[T interface{ MarshalBinary() ([]byte, error) }](t *testing.T, b []byte, parse func([]byte) (T, error), norm func(T) any) {
	v, err := parse(b)
	if err != nil {
		if !errors.Is(err, compute.ErrMalformed) {
			t.Fatalf("%v does not wrap ErrMalformed", err)
		}
		return
	}
	again, err := v.MarshalBinary()
	if err != nil {
		t.Fatalf("a parsed value does not encode: %v", err)
	}
	if len(again) > len(b) {
		t.Fatalf("re-encoded to %d bytes from %d", len(again), len(b))
	}
	w, err := parse(again)
	if err != nil {
		t.Fatalf("a re-encoded value does not parse: %v", err)
	}
	if !reflect.DeepEqual(norm(v), norm(w)) {
		t.Fatalf("re-encoded value parses differently:\n%+v\n%+v", v, w)
	}
	if third, _ := w.MarshalBinary(); !bytes.Equal(third, again) {
		t.Fatal("the encoding is not stable")
	}
}

func same[T any](v T) any { return v }

func FuzzParseTask(f *testing.F) {
	for _, b := range encodings(f)["task"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, compute.ParseTask, same)
	})
}

func FuzzParseNeed(f *testing.F) {
	for _, b := range encodings(f)["need"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, compute.ParseNeed, same)
	})
}

func FuzzParseGrant(f *testing.F) {
	for _, b := range encodings(f)["grant"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, compute.ParseGrant, same)
	})
}

func FuzzParseResult(f *testing.F) {
	for _, b := range encodings(f)["result"] {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, compute.ParseResult, func(r *compute.Result) any { return normResult(r) })
	})
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite compute's committed fuzz seed corpus")

// TestWriteFuzzSeeds refreshes testdata/fuzz when run with -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	targets := map[string]string{"task": "FuzzParseTask", "need": "FuzzParseNeed", "grant": "FuzzParseGrant", "result": "FuzzParseResult"}
	seeds := map[string][]byte{}
	add := func(target, name string, b []byte) {
		seeds[filepath.Join(target, name)] = fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
	}
	for kind, encs := range encodings(t) {
		for name, b := range encs {
			add(targets[kind], name, b)
		}
	}
	add("FuzzParseNeed", "huge-length", []byte{4, compute.WireVersion, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	task := mustMarshal(t, testTask(t))
	task[flagState-1] = 0x10 // sixteen args of nothing
	add("FuzzParseTask", "many-args", task)
	// The committed corpus is what today's encoders write (-update-seeds
	// rewrites it).
	fuzzseed.Golden(t, filepath.Join("testdata", "fuzz"), seeds, *updateSeeds)
}
