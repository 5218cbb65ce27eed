package rebuild_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/repair/rebuild"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// cloud is a set of holders in one process: each a real store.Mem (held
// to store's conformance suite) and the records it keeps, taking shards
// as a holder does: the record must verify and be live, the shard must be
// the record's.
type cloud struct {
	mu      sync.Mutex
	now     time.Time
	stores  map[string]*store.Mem
	records map[string]*stripe.Record
	down    map[string]bool // fetches and stores fail
	liar    map[string]bool // fetches return other bytes
	long    map[string]bool // fetches return the shard and 64 KiB more
	refuse  map[string]bool // stores fail
	stored  map[string]int  // stores taken, by holder
}

func newCloud(n int) *cloud {
	c := &cloud{now: t0, stores: map[string]*store.Mem{}, records: map[string]*stripe.Record{},
		down: map[string]bool{}, liar: map[string]bool{}, long: map[string]bool{}, refuse: map[string]bool{}, stored: map[string]int{}}
	for i := range n {
		c.stores[peer(i)] = store.NewMem(1 << 30)
	}
	return c
}

func peer(i int) string { return fmt.Sprintf("p%02d", i) }

func (c *cloud) Fetch(ctx context.Context, holder string, rec *stripe.Record, slot int) ([]byte, error) {
	c.mu.Lock()
	down, liar, long, s := c.down[holder], c.liar[holder], c.long[holder], c.stores[holder]
	c.mu.Unlock()
	if down || s == nil {
		return nil, fmt.Errorf("%s: unreachable", holder)
	}
	b, err := s.Get(ctx, rec.Descriptor.Shards[slot].ID)
	if err != nil {
		return nil, err
	}
	if liar {
		for i := range b {
			b[i] ^= 0x5a
		}
	}
	if long {
		b = append(b, make([]byte, 64<<10)...)
	}
	return b, nil
}

func (c *cloud) Store(ctx context.Context, holder string, rec *stripe.Record, slot int, shard []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[holder] || c.refuse[holder] {
		return fmt.Errorf("%s: refused", holder)
	}
	if err := rec.CheckShard(slot, shard); err != nil {
		return err
	}
	held := c.records[holder+rec.ID().String()]
	kept, err := stripe.Receive(held, rec, nil, c.now)
	if err != nil {
		return err
	}
	if err := c.stores[holder].Put(ctx, rec.Descriptor.Shards[slot].ID, shard); err != nil {
		return err
	}
	c.records[holder+rec.ID().String()] = kept
	c.stored[holder]++
	return nil
}

func (c *cloud) has(holder string, id erasure.ShardID) bool {
	ok, _ := c.stores[holder].Has(context.Background(), []erasure.ShardID{id})
	return ok[0]
}

// placer places on the lowest-numbered peers that are not excluded.
type placer struct {
	n     int
	calls int
}

func (p *placer) PlaceShards(rec repair.Stripe[string], slots []int, exclude []string) ([]string, error) {
	p.calls++
	var out []string
	for i := 0; i < p.n && len(out) < len(slots); i++ {
		if !slices.Contains(exclude, peer(i)) {
			out = append(out, peer(i))
		}
	}
	if len(out) < len(slots) {
		return nil, errors.New("not enough peers")
	}
	return out, nil
}

// countingPacer records every byte it let through.
type countingPacer struct {
	mu    sync.Mutex
	bytes int64
}

func (p *countingPacer) WaitN(ctx context.Context, n int) error {
	p.mu.Lock()
	p.bytes += int64(n)
	p.mu.Unlock()
	return ctx.Err()
}

// fixture is a k+m stripe of data stored on peers 0..k+m-1, slot i on
// peer i, covered by a retention.
type fixture struct {
	rec    *stripe.Record
	shards [][]byte
	view   repair.Stripe[string]
	cloud  *cloud
	placer *placer
	pacer  *countingPacer
}

func newFixture(t testing.TB, k, m, dataShards, peers int) *fixture {
	return newFixtureSized(t, k, m, dataShards, peers, 3000)
}

// newFixtureSized is newFixture with data shards of size bytes and more
// (size + 17 i).
func newFixtureSized(t testing.TB, k, m, dataShards, peers, size int) *fixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(k*100+m)))
	data := make([][]byte, dataShards)
	for i := range data {
		data[i] = make([]byte, size+i*17)
		for j := range data[i] {
			data[i][j] = byte(rng.Uint32())
		}
	}
	for len(data) < k {
		data = append(data, nil)
	}
	coder, err := erasure.NewCoder(k, m)
	if err != nil {
		t.Fatal(err)
	}
	d, parity, err := coder.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	shards := append(slices.Clone(data), parity...)
	rec, err := stripe.New(d, shards)
	if err != nil {
		t.Fatal(err)
	}
	set, err := stripe.NewSet([]stripe.ID{rec.ID()})
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	ret, err := stripe.SignRetention(key, t0.Add(-time.Hour), t0.Add(30*24*time.Hour), set)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = rec.Cover(ret, set); err != nil {
		t.Fatal(err)
	}
	c := newCloud(peers)
	view := repair.Stripe[string]{ID: repair.StripeID(rec.ID()), K: k, M: m, ShardSize: int64(d.ShardSize), Holders: make([]string, k+m), Empty: make([]bool, k+m)}
	for i := range shards {
		if !d.Stored(i) {
			view.Empty[i] = true
			continue
		}
		if rec, err = rec.WithHolders(i, []string{peer(i)}, t0); err != nil {
			t.Fatal(err)
		}
		view.Holders[i] = peer(i)
		if err := c.stores[peer(i)].Put(context.Background(), d.Shards[i].ID, shards[i]); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{rec: rec, shards: shards, view: view, cloud: c, placer: &placer{n: peers}, pacer: &countingPacer{}}
}

func (f *fixture) rebuilder(t testing.TB, self string) *rebuild.Rebuilder[string] {
	t.Helper()
	r, err := rebuild.New(rebuild.Config[string]{
		Self: self, Shards: f.cloud, Placer: f.placer, Pacer: f.pacer,
		Name: func(p string) string { return p }, Now: func() time.Time { return t0.Add(time.Minute) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// plan is the plan a Machine would make: fetch from the first need
// sources, the rest spares, rebuild lost, exclude every holder.
func (f *fixture) plan(lost []int, need int, deadline time.Time) repair.Plan[string] {
	p := repair.Plan[string]{Record: f.view, Ballot: 3, Rebuild: lost, Deadline: deadline}
	for i, h := range f.view.Holders {
		if h == "" {
			continue
		}
		p.Exclude = append(p.Exclude, h)
		if slices.Contains(lost, i) {
			continue
		}
		src := repair.Source[string]{Slot: i, Holder: h}
		if len(p.Fetch) < need {
			p.Fetch = append(p.Fetch, src)
		} else {
			p.Spares = append(p.Spares, src)
		}
	}
	return p
}

// checkPlaced checks that every placed slot's new holder keeps the
// original shard and a record naming it, and that the outcome's record
// names the new holders.
func (f *fixture) checkPlaced(t *testing.T, out rebuild.Outcome[string], lost []int) {
	t.Helper()
	if out.Result.Err != nil {
		t.Fatalf("repair failed: %v", out.Result.Err)
	}
	if len(out.Result.Placed) != len(lost) {
		t.Fatalf("placed %v, want slots %v", out.Result.Placed, lost)
	}
	for _, slot := range lost {
		h, ok := out.Result.Placed[slot]
		if !ok {
			t.Fatalf("slot %d not placed", slot)
		}
		if slices.Contains(f.view.Holders, h) {
			t.Errorf("slot %d placed on %s, a holder of the stripe", slot, h)
		}
		got, err := f.cloud.stores[h].Get(context.Background(), f.rec.Descriptor.Shards[slot].ID)
		if err != nil || !bytes.Equal(got, f.shards[slot]) {
			t.Errorf("slot %d at %s: %v, equal %v", slot, h, err, bytes.Equal(got, f.shards[slot]))
		}
		if kept := f.cloud.records[h+f.rec.ID().String()]; kept == nil || !slices.Contains(kept.Holders[slot], h) {
			t.Errorf("%s keeps no record naming it for slot %d", h, slot)
		}
		if !slices.Equal(out.Record.Holders[slot], []string{h}) {
			t.Errorf("the next record hints %v for slot %d, want %s", out.Record.Holders[slot], slot, h)
		}
	}
	if out.Record.Seq <= f.rec.Seq {
		t.Errorf("the next record's hints are not newer: %d after %d", out.Record.Seq, f.rec.Seq)
	}
	if err := out.Record.Verify(); err != nil {
		t.Errorf("the next record does not verify: %v", err)
	}
	// Every byte moved passed the pacer first (a fetch that failed was
	// paced too, though it moved nothing).
	if out.Result.Moved != out.Read+out.Written || f.pacer.bytes < out.Read+out.Written || len(out.Failed) == 0 && f.pacer.bytes != out.Result.Moved {
		t.Errorf("moved %d, read %d + written %d, paced %d", out.Result.Moved, out.Read, out.Written, f.pacer.bytes)
	}
}

func TestRebuildDataAndParity(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 10)
	lost := []int{0, 5}
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan(lost, 4, time.Now().Add(time.Hour)), f.rec)
	f.checkPlaced(t, out, lost)
	ss := int64(f.rec.Descriptor.ShardSize)
	var want int64
	for _, i := range []int{1, 2, 3, 4} {
		want += int64(len(f.shards[i]))
	}
	if out.Read != want {
		t.Errorf("read %d bytes, want the four sources' %d", out.Read, want)
	}
	if out.Written != int64(len(f.shards[0]))+ss {
		t.Errorf("wrote %d bytes, want %d", out.Written, int64(len(f.shards[0]))+ss)
	}
	if len(out.Corrupt)+len(out.Failed) != 0 {
		t.Errorf("corrupt %v, failed %v", out.Corrupt, out.Failed)
	}
}

// The repairer's own shard moves no bytes.
func TestRebuildFromOwnShard(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 10)
	lost := []int{2}
	out := f.rebuilder(t, peer(0)).Run(context.Background(), f.plan(lost, 4, time.Time{}), f.rec)
	f.checkPlaced(t, out, lost)
	var want int64
	for _, i := range []int{1, 3, 4} {
		want += int64(len(f.shards[i]))
	}
	if out.Read != want {
		t.Errorf("read %d bytes, want %d (not the repairer's own shard)", out.Read, want)
	}
}

// A source that sends more than the shard's size has those bytes paced
// too: the cap holds for what arrives, not for what was asked.
func TestRebuildPacesWhatArrives(t *testing.T) {
	f := newFixture(t, 4, 3, 4, 10)
	f.cloud.long[peer(1)] = true
	lost := []int{0}
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan(lost, 4, time.Time{}), f.rec)
	f.checkPlaced(t, out, lost)
	if len(out.Corrupt) != 1 || out.Corrupt[0].Holder != peer(1) {
		t.Errorf("corrupt %v, want slot 1 at %s", out.Corrupt, peer(1))
	}
	if f.pacer.bytes < out.Read+out.Written {
		t.Errorf("paced %d bytes, moved %d", f.pacer.bytes, out.Read+out.Written)
	}
}

// A source that answers with other bytes is reported and replaced by a
// spare; one that is down is replaced too.
func TestRebuildLiarAndDown(t *testing.T) {
	f := newFixture(t, 4, 3, 4, 10)
	f.cloud.liar[peer(1)] = true
	f.cloud.down[peer(2)] = true
	lost := []int{0}
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan(lost, 4, time.Time{}), f.rec)
	f.checkPlaced(t, out, lost)
	if len(out.Corrupt) != 1 || out.Corrupt[0].Holder != peer(1) || out.Corrupt[0].Slot != 1 {
		t.Errorf("corrupt %v, want slot 1 at %s", out.Corrupt, peer(1))
	}
	if !slices.Equal(out.Failed, []string{peer(2)}) {
		t.Errorf("failed %v, want %s", out.Failed, peer(2))
	}
}

// Without need good shards nothing is placed and no holder is written.
func TestRebuildTooFewShards(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 10)
	f.cloud.down[peer(1)] = true
	f.cloud.liar[peer(2)] = true
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan([]int{0}, 4, time.Time{}), f.rec)
	if !errors.Is(out.Result.Err, erasure.ErrTooFewShards) {
		t.Fatalf("err %v, want ErrTooFewShards", out.Result.Err)
	}
	if len(out.Result.Placed) != 0 || out.Record != nil || out.Written != 0 {
		t.Errorf("placed %v, record %v, written %d after a failed fetch", out.Result.Placed, out.Record != nil, out.Written)
	}
	for h, n := range f.cloud.stored {
		t.Errorf("%s was handed %d shards", h, n)
	}
}

// A new holder that refuses is excluded and its slot placed again; the
// next record does not name it.
func TestRebuildRefusedStore(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 10)
	f.cloud.refuse[peer(6)] = true
	lost := []int{0, 1}
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan(lost, 4, time.Time{}), f.rec)
	f.checkPlaced(t, out, lost)
	for slot, h := range out.Result.Placed {
		if h == peer(6) {
			t.Errorf("slot %d placed on the refusing %s", slot, h)
		}
	}
	for _, hs := range out.Record.Holders {
		if slices.Contains(hs, peer(6)) {
			t.Errorf("the next record names the refusing holder: %v", out.Record.Holders)
		}
	}
	if !slices.Contains(out.Failed, peer(6)) || f.placer.calls != 2 {
		t.Errorf("failed %v after %d placements", out.Failed, f.placer.calls)
	}
}

// When only some slots can be placed, those are reported with the error,
// and the next record keeps the old hints for the others.
func TestRebuildPartial(t *testing.T) {
	lost := []int{0, 1}
	f2 := newFixture(t, 4, 2, 4, 8)
	f2.cloud.refuse[peer(7)] = true // of the two free peers, one refuses
	out := f2.rebuilder(t, "outsider").Run(context.Background(), f2.plan(lost, 4, time.Time{}), f2.rec)
	if out.Result.Err == nil || len(out.Result.Placed) != 1 {
		t.Fatalf("placed %v, err %v: want one slot placed and an error", out.Result.Placed, out.Result.Err)
	}
	for slot := range out.Result.Placed {
		other := lost[0] + lost[1] - slot
		if !slices.Equal(out.Record.Holders[other], f2.rec.Holders[other]) {
			t.Errorf("slot %d's hints became %v, want the old %v", other, out.Record.Holders[other], f2.rec.Holders[other])
		}
	}
}

// A stripe with empty data slots needs only its stored data shards.
func TestRebuildEmptySlots(t *testing.T) {
	f := newFixture(t, 4, 2, 2, 10)
	lost := []int{1, 4}
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan(lost, 2, time.Time{}), f.rec)
	f.checkPlaced(t, out, lost)
	// Slots 2 and 3 are empty: an attempt to rebuild one is refused.
	bad := f.plan([]int{2}, 2, time.Time{})
	if out := f.rebuilder(t, "outsider").Run(context.Background(), bad, f.rec); out.Result.Err == nil {
		t.Error("rebuilding an empty slot succeeded")
	}
}

func TestRebuildRefusesBadPlans(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 10)
	other := newFixture(t, 3, 2, 3, 10)
	if out := f.rebuilder(t, "x").Run(context.Background(), f.plan([]int{0}, 4, time.Time{}), other.rec); !errors.Is(out.Result.Err, rebuild.ErrRecord) {
		t.Errorf("a plan run with another stripe's record: %v", out.Result.Err)
	}
	// A deadline already past on the rebuilder's clock (t0 + 1 min):
	// nothing is fetched or placed.
	out := f.rebuilder(t, "x").Run(context.Background(), f.plan([]int{0}, 4, t0), f.rec)
	if out.Result.Err == nil || len(out.Result.Placed) != 0 || out.Read != 0 {
		t.Errorf("past deadline: err %v, placed %v, read %d", out.Result.Err, out.Result.Placed, out.Read)
	}
	// Cancelled (the Machine's Abort): the same.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if out := f.rebuilder(t, "x").Run(ctx, f.plan([]int{0}, 4, time.Time{}), f.rec); !errors.Is(out.Result.Err, context.Canceled) {
		t.Errorf("cancelled: %v", out.Result.Err)
	}
}

// TestDeadlineOnInjectedClock: a plan's deadline is on the Machine's
// clock, the rebuilder's Now, not the wall clock: a deadline ten minutes
// ahead of an injected clock years behind the wall clock leaves the plan
// its ten minutes.
func TestDeadlineOnInjectedClock(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 10)
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	r, err := rebuild.New(rebuild.Config[string]{
		Self: "outsider", Shards: f.cloud, Placer: f.placer, Pacer: f.pacer,
		Name: func(p string) string { return p }, Now: func() time.Time { return past },
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := []int{1}
	out := r.Run(context.Background(), f.plan(lost, 4, past.Add(10*time.Minute)), f.rec)
	if out.Result.Err != nil {
		t.Fatalf("a deadline ahead on the injected clock: %v", out.Result.Err)
	}
	f.checkPlaced(t, out, lost)
}

// TestNowhereToPlaceMovesNothing: a repair whose rebuilt shards have
// nowhere to go (every candidate a holder) fails before it fetches.
func TestNowhereToPlaceMovesNothing(t *testing.T) {
	f := newFixture(t, 4, 2, 4, 6) // six peers, all holders
	out := f.rebuilder(t, "outsider").Run(context.Background(), f.plan([]int{1}, 4, time.Time{}), f.rec)
	if out.Result.Err == nil || len(out.Result.Placed) != 0 {
		t.Fatalf("placed %v (%v) with nowhere to go", out.Result.Placed, out.Result.Err)
	}
	if out.Read != 0 || f.pacer.bytes != 0 {
		t.Fatalf("fetched %d bytes (%d paced) for a repair with nowhere to go", out.Read, f.pacer.bytes)
	}
}
