package compute_test

// Review tests: each proves a bug in the compute layer. They fail today.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

type storeHolder = store.Holder

// fakeEnv is an owner's Env without a network: its peers answer runs
// with run.
type fakeEnv struct {
	mu    sync.Mutex
	peers []compute.Peer
	run   func(ctx context.Context, p string, t *compute.Task) (*compute.Result, error)
	runs  map[string]int // runs per peer
	total atomic.Int64
}

func (e *fakeEnv) Peers() []compute.Peer {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]compute.Peer(nil), e.peers...)
}
func (e *fakeEnv) setPeers(ps ...compute.Peer)                       { e.mu.Lock(); e.peers = ps; e.mu.Unlock() }
func (e *fakeEnv) Holders(context.Context, erasure.ShardID) []string { return nil }
func (e *fakeEnv) Root(context.Context, *erasure.Descriptor, int) (proof.Root, error) {
	return proof.Root{}, errors.New("no root")
}
func (e *fakeEnv) Run(ctx context.Context, p string, t *compute.Task, _ []byte, _ func(*compute.Need) *compute.Grant, _ time.Duration, _ *compute.Traffic) (*compute.Result, error) {
	e.mu.Lock()
	if e.runs == nil {
		e.runs = map[string]int{}
	}
	e.runs[p]++
	e.mu.Unlock()
	e.total.Add(1)
	return e.run(ctx, p, t)
}
func (e *fakeEnv) Observe(string, bool) {}

func ok(out string) *compute.Result {
	return &compute.Result{Status: compute.StatusOK, Output: []byte(out), Local: true}
}

var (
	rtOnce sync.Once
	rtRev  *sandbox.Runtime
)

func reviewRuntime(t *testing.T) *sandbox.Runtime {
	rtOnce.Do(func() {
		var err error
		rtRev, err = sandbox.New(context.Background(), sandbox.Config{})
		if err != nil {
			panic(err)
		}
	})
	return rtRev
}

// fakeInputs returns n one-chunk files, chunk i in stripe i, its data
// shard 0 held (by hint) by holder(i).
func fakeInputs(t *testing.T, n int, holder func(i int) string) []compute.Input {
	var in []compute.Input
	for i := range n {
		sealed := 100 + crypt.Overhead
		d := &erasure.Descriptor{K: 1, M: 1, ShardSize: sealed, Shards: []erasure.Shard{
			{ID: erasure.SumShard([]byte(fmt.Sprint("d", i))), Size: sealed},
			{ID: erasure.SumShard([]byte(fmt.Sprint("p", i))), Size: sealed},
		}}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		var id chunk.ID
		id[0], id[1] = byte(i), byte(i>>8)
		m := &pipeline.Manifest{Size: 100, Stripes: []*erasure.Descriptor{d},
			Chunks: []pipeline.ChunkRef{{ID: id, Size: 100, Stripe: 0, Shard: 0, Offset: 0}}}
		if holder != nil {
			m.Holders = [][]storeHolder{{storeHolder(holder(i)), ""}}
		}
		in = append(in, compute.Input{Name: fmt.Sprint("f", i), Manifest: m})
	}
	return in
}

func newFakeOwner(t *testing.T, env *fakeEnv, v compute.VerifyConfig) *compute.Owner {
	o, err := compute.NewOwner(compute.OwnerConfig{Env: env, Runtime: reviewRuntime(t),
		Keys:   pipeline.Config{Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID())},
		Verify: v, Sched: compute.SchedConfig{Wait: 50 * time.Millisecond, Backoff: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func waitJob(t *testing.T, j *compute.Job, d time.Duration) (error, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := j.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return nil, false
	}
	return err, true
}

// TestReviewUntrustedLoneRunAccepted: the tally of a task is made for the
// peer of its FIRST ASSIGNMENT. When that peer is trusted, the tally wants
// one run; if the trusted peer's run then fails (down, busy, timed out),
// the task goes to another, untrusted peer whose lone result is accepted
// unverified: a liar's wrong output becomes the job's output.
func TestReviewUntrustedLoneRunAccepted(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 2, Trust: 1, SpotCheck: 1e-12})
	wasm := module(t, "linecount")

	// Job 1: T (the holder) and H agree: T is trusted.
	env.setPeers(compute.Peer{ID: "T", Slots: 1}, compute.Peer{ID: "H", Slots: 1})
	env.run = func(_ context.Context, p string, _ *compute.Task) (*compute.Result, error) { return ok("good\n"), nil }
	j, err := o.Start(compute.Spec{Module: wasm}, fakeInputs(t, 1, func(int) string { return "T" }))
	if err != nil {
		t.Fatal(err)
	}
	if err, done := waitJob(t, j, 10*time.Second); !done || err != nil {
		t.Fatalf("job 1: done %v err %v", done, err)
	}
	if o.Streak("T") < 1 {
		t.Fatalf("T's streak %d", o.Streak("T"))
	}
	// Job 2: T is first (it holds the chunk) but fails; L, never seen
	// before, lies.
	env.setPeers(compute.Peer{ID: "T", Slots: 1}, compute.Peer{ID: "L", Slots: 1})
	env.run = func(_ context.Context, p string, _ *compute.Task) (*compute.Result, error) {
		if p == "T" {
			return nil, errors.New("T is unreachable")
		}
		return ok("a lie\n"), nil
	}
	j, err = o.Start(compute.Spec{Module: wasm}, fakeInputs(t, 1, func(int) string { return "T" }))
	if err != nil {
		t.Fatal(err)
	}
	err, done := waitJob(t, j, 10*time.Second)
	if done && err == nil && string(j.Output()) == "a lie\n" {
		t.Fatalf("an untrusted peer's lone, unverified result was accepted: output %q, status %+v", j.Output(), j.Status())
	}
}

// TestReviewHangWhenRunsDisagreeAndPeersRunOut: with as many compute peers
// as replicas, one disagreement makes the tally want one run more, which
// no peer can take (all have voted). The owner only checks for "no
// compute peer left" when a run FAILS, not when a tally asks for more
// than the peers left: the job hangs for ever instead of failing.
func TestReviewHangWhenRunsDisagreeAndPeersRunOut(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 2, Trust: -1})
	env.setPeers(compute.Peer{ID: "A", Slots: 1}, compute.Peer{ID: "B", Slots: 1})
	env.run = func(_ context.Context, p string, _ *compute.Task) (*compute.Result, error) { return ok(p), nil }
	j, err := o.Start(compute.Spec{Module: module(t, "linecount")}, fakeInputs(t, 1, func(int) string { return "A" }))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Cancel()
	if _, done := waitJob(t, j, 5*time.Second); !done {
		t.Fatalf("job hangs: runs %d, status %+v", env.total.Load(), j.Status())
	}
}

// TestReviewCancelDeadlocksWithManyRuns: fail() cancels the runs, then
// waits for their goroutines (wg.Wait) before anyone reads their ends;
// each goroutine sends its end on a channel of 64. With more than 64 runs
// in flight (e.g. 25 peers of 4 slots), the 65th goroutine blocks on its
// send for ever, wg.Wait never returns: the job never ends, Cancel (and
// the daemon's DELETE /v1/jobs/{id}, which waits for Done) hangs.
func TestReviewCancelDeadlocksWithManyRuns(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 1})
	var ps []compute.Peer
	for i := range 25 {
		ps = append(ps, compute.Peer{ID: fmt.Sprint("P", i), Slots: 4, Free: 4})
	}
	env.setPeers(ps...)
	env.run = func(ctx context.Context, p string, _ *compute.Task) (*compute.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	j, err := o.Start(compute.Spec{Module: module(t, "linecount")}, fakeInputs(t, 100, func(i int) string { return fmt.Sprint("P", i%25) }))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for env.total.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := env.total.Load(); n < 100 {
		t.Fatalf("only %d runs started", n)
	}
	j.Cancel()
	err, done := waitJob(t, j, 5*time.Second)
	t.Logf("err %v runs %d", err, env.total.Load())
	if !done {
		t.Fatalf("the cancelled job never ends (100 runs in flight, ends channel of 64)")
	}
}

// TestReviewSpecReplicasIgnored: the tally takes its replicas from the
// owner's VerifyConfig, not the job's Spec.Replicas: a job asked with
// --replicas 1 on a daemon (default 2) still runs every task twice
// (and `murmur bench compute`'s "replicas 1" figures are replicas 2), and
// --replicas 3 runs only 2.
func TestReviewSpecReplicasIgnored(t *testing.T) {
	for _, want := range []int{1, 3} {
		env := &fakeEnv{}
		o := newFakeOwner(t, env, compute.VerifyConfig{Trust: -1}) // the daemon's: default replicas 2
		var ps []compute.Peer
		for i := range 4 {
			ps = append(ps, compute.Peer{ID: fmt.Sprint("P", i), Slots: 2})
		}
		env.setPeers(ps...)
		env.run = func(context.Context, string, *compute.Task) (*compute.Result, error) { return ok("x\n"), nil }
		j, err := o.Start(compute.Spec{Module: module(t, "linecount"), Replicas: want}, fakeInputs(t, 4, func(i int) string { return fmt.Sprint("P", i) }))
		if err != nil {
			t.Fatal(err)
		}
		if err, done := waitJob(t, j, 10*time.Second); !done || err != nil {
			t.Fatalf("replicas %d: done %v err %v", want, done, err)
		}
		if got := env.total.Load(); got != int64(4*want) {
			t.Errorf("Spec.Replicas %d over 4 tasks: %d runs, want %d (status says replicas %d)", want, got, 4*want, j.Status().Replicas)
		}
	}
}

// TestReviewSchedulerSpins: when a waiting task may move but every
// non-holder is full, Wake returns a time already past while Next starts
// nothing: the owner's loop arms a 1 ms timer (max(time.Until(w), 1ms)),
// wakes, does nothing, and again, until a run ends (up to the deadline +
// 30 s), and each turn defers one more timer.Stop in the loop's frame.
func TestReviewSchedulerSpins(t *testing.T) {
	s := compute.NewScheduler(compute.SchedConfig{Wait: time.Second, Backoff: time.Second})
	s.SetPeers([]compute.Peer{{ID: "A", Slots: 1}, {ID: "B", Slots: 1}})
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		_ = s.Add(i, []string{"A"}, "g", 1, t0)
	}
	if a := s.Next(t0); len(a) != 1 {
		t.Fatalf("at t0: %v", a)
	}
	t1 := t0.Add(2 * time.Second)
	if a := s.Next(t1); len(a) != 1 {
		t.Fatalf("at t1: %v", a)
	}
	now := t1.Add(10 * time.Millisecond)
	a := s.Next(now)
	w := s.Wake(now)
	if len(a) == 0 && !w.IsZero() && !w.After(now) {
		t.Errorf("Wake %v is already past at %v but Next starts nothing: the owner's loop spins at 1 ms", w.Sub(t0), now.Sub(t0))
	}
}

// conn is a scripted Conn: frames to read, then blocks (or EOF).
type conn struct {
	mu       sync.Mutex
	in       [][]byte
	block    chan struct{}
	wrote    [][]byte
	deadline time.Time
}

func (c *conn) SetDeadline(d time.Time) error {
	c.mu.Lock()
	c.deadline = d
	c.mu.Unlock()
	return nil
}

func (c *conn) Deadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline
}

func (c *conn) ReadFrame(int) ([]byte, error) {
	c.mu.Lock()
	if len(c.in) > 0 {
		b := c.in[0]
		c.in = c.in[1:]
		c.mu.Unlock()
		return b, nil
	}
	c.mu.Unlock()
	if c.block != nil {
		<-c.block
	}
	return nil, errors.New("EOF")
}
func (c *conn) WriteFrame(b []byte) error {
	c.mu.Lock()
	c.wrote = append(c.wrote, append([]byte(nil), b...))
	c.mu.Unlock()
	return nil
}

type shards struct{ b []byte }

func (s shards) Local(_ context.Context, id erasure.ShardID) ([]byte, error) {
	if erasure.SumShard(s.b) == id {
		return s.b, nil
	}
	return nil, fmt.Errorf("not here")
}
func (s shards) Fetch(context.Context, *erasure.Descriptor, int) ([]byte, int64, error) {
	return nil, 0, errors.New("no fetch")
}

// TestReviewWorkerPanicsOnLyingDescriptor: a shard's ID (BLAKE3 of its
// bytes) does not bind the size a descriptor claims for it. Any cloud
// member may send a task whose descriptor names a real shard the worker
// holds with a larger Size and an Offset past the real end; ParseTask
// checks the offset only against the claimed size, and the worker slices
// its shard out of range: a panic in the stream handler kills the node.
func TestReviewWorkerPanicsOnLyingDescriptor(t *testing.T) {
	rt := reviewRuntime(t)
	wasm := module(t, "linecount")
	if _, err := rt.Compile(context.Background(), wasm); err != nil {
		t.Fatal(err)
	}
	real := testShard(1000, 3)
	d := &erasure.Descriptor{K: 1, M: 1, ShardSize: 5000, Shards: []erasure.Shard{
		{ID: erasure.SumShard(real), Size: 5000}, // a lie: it is 1000 bytes
		{ID: erasure.SumShard([]byte("p")), Size: 5000},
	}}
	task := &compute.Task{Module: compute.ModuleIDOf(wasm), Mode: compute.ModeMap, Stripe: d, Shard: 0,
		Size: 100, Offset: 4000, Key: testKey(t, crypt.Version, 1), DeadlineMillis: 1000, MaxOutput: 1000, First: true, Last: true}
	b := mustMarshal(t, task)
	w, err := compute.NewWorker(compute.WorkerConfig{Slots: 1, Runtime: rt, Shards: shards{real}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("a hostile task panics the worker (its node): %v", r)
		}
	}()
	_ = w.Serve(context.Background(), &conn{in: [][]byte{b}}, "hostile")
}

// TestReviewWorkerSlotHeldBySilentOwner: a worker waits for the owner's
// Module (or Grant) with no deadline of its own: an owner that sends a
// task and then nothing holds a slot for ever (every slot, with as many
// streams), whatever the task's DeadlineMillis.
func TestReviewWorkerSlotHeldBySilentOwner(t *testing.T) {
	rt, err := sandbox.New(context.Background(), sandbox.Config{}) // does not have the module
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	task := testTask(t)
	task.DeadlineMillis = 100
	w, err := compute.NewWorker(compute.WorkerConfig{Slots: 1, Runtime: rt, Shards: shards{}})
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{in: [][]byte{mustMarshal(t, task)}, block: make(chan struct{})}
	defer close(c.block)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Serve(context.Background(), c, "silent") }()
	select {
	case <-done:
	case <-time.After(time.Second):
		// The stream's own deadline is what would end the wait.
		if d := c.Deadline(); d.IsZero() || time.Until(d) > 5*time.Minute {
			t.Fatalf("a second after a task of 100 ms deadline, its run still holds a slot (free %d) with no deadline on its stream (%v): the worker never gives up on a silent owner", w.Free(), d)
		}
	}
}

// hookConn is a Conn whose frames to read come from a channel, and whose
// writes call onWrite.
type hookConn struct {
	in      chan []byte
	onWrite func(b []byte)
}

func (c *hookConn) SetDeadline(time.Time) error { return nil }

func (c *hookConn) ReadFrame(int) ([]byte, error) {
	b, ok := <-c.in
	if !ok {
		return nil, errors.New("EOF")
	}
	return b, nil
}
func (c *hookConn) WriteFrame(b []byte) error {
	if c.onWrite != nil {
		c.onWrite(append([]byte(nil), b...))
	}
	return nil
}

// TestReviewEvictedModuleIsAModuleFailure: the worker checks rt.Has (and
// compiles) before fetching the shard and earning the key, and runs later;
// if the module is evicted from the runtime's LRU in between (other
// owners' jobs compile other modules; MaxModules 16, and any cloud member
// can send tasks of 16 modules), Run fails with ErrUnknownModule, which
// failure() reports as StatusBadMod: a "module failure", which replicas
// count as a deterministic answer. An honest worker is then outvoted and
// ranked down (gossip ComputeWrong), and two such runs fail the job with
// "the module failed: bad module".
func TestReviewEvictedModuleIsAModuleFailure(t *testing.T) {
	ctx := context.Background()
	rt, err := sandbox.New(ctx, sandbox.Config{MaxModules: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	lc, wc := module(t, "linecount"), module(t, "wordcount")
	if _, err := rt.Compile(ctx, lc); err != nil {
		t.Fatal(err)
	}
	keys := crypt.NewMasterKey().Keys(crypt.NewDriveID())
	s := keys.Sealer(crypt.PurposeChunk)
	plain := []byte("one\ntwo\nthree\n")
	var id chunk.ID
	id[0] = 7
	shard := s.Seal(nil, id[:], plain)
	d := &erasure.Descriptor{K: 1, M: 1, ShardSize: len(shard), Shards: []erasure.Shard{
		{ID: erasure.SumShard(shard), Size: len(shard)}, {ID: erasure.SumShard([]byte("p")), Size: len(shard)}}}
	task := &compute.Task{Module: compute.ModuleIDOf(lc), Mode: compute.ModeMap, Stripe: d, Chunk: id,
		Size: len(plain), First: true, Last: true, DeadlineMillis: 10000, MaxOutput: 1 << 20}
	w, err := compute.NewWorker(compute.WorkerConfig{Slots: 1, Runtime: rt, Shards: shards{shard}})
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := crypt.KeyNonce(shard)
	key, err := s.ObjectKey(nonce)
	if err != nil {
		t.Fatal(err)
	}
	grant := mustMarshal(t, &compute.Grant{Key: key})
	c := &hookConn{in: make(chan []byte, 2)}
	var res *compute.Result
	c.onWrite = func(b []byte) {
		if b[0] == 4 { // a Need: another owner's module comes in meanwhile
			if _, err := rt.Compile(ctx, wc); err != nil {
				t.Error(err)
			}
			c.in <- grant
			return
		}
		if res, err = compute.ParseResult(b); err != nil {
			t.Error(err)
		}
	}
	c.in <- mustMarshal(t, task)
	_ = w.Serve(ctx, c, "owner")
	if res == nil {
		t.Fatal("no result")
	}
	if res.Status.ModuleFailure() {
		t.Errorf("a module evicted from this worker's cache is reported as the module's own failure %q (%s), which replicas agree on", res.Status, res.Message)
	}
}

// TestReviewMemoryLimitIsPerNode: the same task (same Task.Memory) on
// two honest nodes of different --compute-memory must give one voted
// answer. Compile checks a module's initial memory against the NODE's
// limit (StatusBadMod on a small node), while the run enforces the TASK's
// (StatusMemory on a big node): module failures that replicas vote on as
// deterministic, yet they differ by node.
func TestReviewMemoryLimitIsPerNode(t *testing.T) {
	ctx := context.Background()
	lc := module(t, "linecount") // needs about 2.4 MiB at start
	const taskMem = 2 << 20
	results := map[int64]*compute.Result{}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("a task whose memory limit is below the module's initial memory panics the worker (its node): %v", r)
		}
	}()
	for _, limit := range []int64{taskMem, 64 << 20} {
		rt, err := sandbox.New(ctx, sandbox.Config{MemoryLimit: limit})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close(ctx)
		keys := crypt.NewMasterKey().Keys(crypt.NewDriveID())
		s := keys.Sealer(crypt.PurposeChunk)
		plain := []byte("one\ntwo\nthree\n")
		var id chunk.ID
		var ck [32]byte
		ck[0] = 1
		shard := s.SealKeyed(nil, &ck, id[:], plain)
		d := &erasure.Descriptor{K: 1, M: 1, ShardSize: len(shard), Shards: []erasure.Shard{
			{ID: erasure.SumShard(shard), Size: len(shard)}, {ID: erasure.SumShard([]byte("p")), Size: len(shard)}}}
		task := &compute.Task{Module: compute.ModuleIDOf(lc), Mode: compute.ModeMap, Stripe: d, Chunk: id,
			Size: len(plain), First: true, Last: true, DeadlineMillis: 10000, MaxOutput: 1 << 20, Key: s.KeyedObjectKey(&ck),
			Memory: taskMem}
		w, err := compute.NewWorker(compute.WorkerConfig{Slots: 1, Runtime: rt, Shards: shards{shard}, Memory: limit})
		if err != nil {
			t.Fatal(err)
		}
		modMsg := binary.AppendUvarint([]byte{2, compute.WireVersion}, uint64(len(lc)))
		modMsg = append(modMsg, lc...)
		c := &hookConn{in: make(chan []byte, 2)}
		c.onWrite = func(b []byte) {
			if b[0] == 4 {
				c.in <- modMsg
				return
			}
			r, err := compute.ParseResult(b)
			if err != nil {
				t.Error(err)
			}
			results[limit] = r
		}
		c.in <- mustMarshal(t, task)
		_ = w.Serve(ctx, c, "owner")
	}
	a, b := results[taskMem], results[64<<20]
	if a == nil || b == nil {
		t.Fatal("missing results")
	}
	t.Logf("node of %d: %s (%s); node of 64 MiB: %s (%s)", taskMem, a.Status, a.Message, b.Status, b.Message)
	if a.Digest() != b.Digest() && a.Status.ModuleFailure() && b.Status.ModuleFailure() {
		t.Errorf("one task, two honest nodes, two different voted answers (%s vs %s): the result depends on the node's memory limit", a.Status, b.Status)
	}
}

// TestReviewSpecUnvalidated: Start accepts any Replicas (negative, or
// past the verifier's 1..9) and any Deadline, although a Deadline over
// 24 h makes a task no worker parses (ParseTask bounds DeadlineMillis):
// every run is refused and the job fails, after trying every peer, with
// "no compute peer left to run it" instead of a clear error at Start.
func TestReviewSpecUnvalidated(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 1})
	env.setPeers(compute.Peer{ID: "A", Slots: 1}, compute.Peer{ID: "B", Slots: 1})
	var parseErr atomic.Value
	env.run = func(_ context.Context, p string, task *compute.Task) (*compute.Result, error) {
		b, err := task.MarshalBinary()
		if err == nil {
			_, err = compute.ParseTask(b)
		}
		if err != nil {
			parseErr.Store(err.Error())
			return &compute.Result{Status: compute.StatusRefused, Message: err.Error()}, nil
		}
		return ok("x\n"), nil
	}
	j, err := o.Start(compute.Spec{Module: module(t, "linecount"), Deadline: 48 * time.Hour, Replicas: -3},
		fakeInputs(t, 1, func(int) string { return "A" }))
	if err != nil {
		return // refused at Start: fine
	}
	err, _ = waitJob(t, j, 10*time.Second)
	t.Errorf("Start accepted Deadline 48h and Replicas -3 (status replicas %d); the job: %v; workers said: %v", j.Status().Replicas, err, parseErr.Load())
}

// TestReviewFoldRace: a fold job of several chunks with replicas, under
// the race detector (the state of chunk i+1 is set while runs are out).
func TestReviewFoldRace(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 2, Trust: -1})
	env.setPeers(compute.Peer{ID: "A", Slots: 2}, compute.Peer{ID: "B", Slots: 2}, compute.Peer{ID: "C", Slots: 2})
	env.run = func(_ context.Context, p string, task *compute.Task) (*compute.Result, error) {
		time.Sleep(time.Millisecond)
		return ok(fmt.Sprintf("%s+%d", task.State, int(task.Chunk[0])+int(task.Chunk[5]))), nil
	}
	in := fakeInputs(t, 1, nil)
	m := in[0].Manifest
	for i := 1; i < 5; i++ {
		c := m.Chunks[0]
		c.ID[5] = byte(i)
		m.Chunks = append(m.Chunks, c)
	}
	in = append(in, fakeInputs(t, 1, nil)...)
	j, err := o.Start(compute.Spec{Module: module(t, "linecount"), Fold: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	if err, done := waitJob(t, j, 10*time.Second); !done || err != nil {
		t.Fatalf("done %v err %v", done, err)
	}
	if got, want := string(j.Output()), "+0+1+2+3+4+0"; got != want {
		t.Errorf("fold output %q, want %q", got, want)
	}
}

// TestReviewTaskIndexNeverSet: plan never sets Task.Index: every task of
// every job goes out as task 0 (the worker's logs, and any diagnosis on
// its side, cannot tell tasks apart).
func TestReviewTaskIndexNeverSet(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 1})
	env.setPeers(compute.Peer{ID: "A", Slots: 4})
	var mu sync.Mutex
	seen := map[int]bool{}
	env.run = func(_ context.Context, p string, task *compute.Task) (*compute.Result, error) {
		mu.Lock()
		seen[task.Index] = true
		mu.Unlock()
		return ok("x\n"), nil
	}
	j, err := o.Start(compute.Spec{Module: module(t, "linecount")}, fakeInputs(t, 3, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err, done := waitJob(t, j, 10*time.Second); !done || err != nil {
		t.Fatalf("done %v err %v", done, err)
	}
	if len(seen) != 3 {
		t.Errorf("3 tasks sent with indices %v", seen)
	}
}

// TestReviewFoldStateOverMaxState: a fold step's output becomes the next
// chunk's State, which the task protocol bounds to MaxState (1 MiB); the
// owner does not check it, so a fold whose state grows past 1 MiB makes
// a task that cannot be encoded: every run fails before it is sent, and
// the job ends, after trying every peer, with "no compute peer left to
// run it" rather than an error naming the state.
func TestReviewFoldStateOverMaxState(t *testing.T) {
	env := &fakeEnv{}
	o := newFakeOwner(t, env, compute.VerifyConfig{Replicas: 1})
	env.setPeers(compute.Peer{ID: "A", Slots: 1}, compute.Peer{ID: "B", Slots: 1})
	env.run = func(_ context.Context, p string, task *compute.Task) (*compute.Result, error) {
		if _, err := task.MarshalBinary(); err != nil { // as Dialer.Run's exchange does
			return nil, err
		}
		return ok(string(make([]byte, compute.MaxState+1))), nil
	}
	in := fakeInputs(t, 1, nil)
	c := in[0].Manifest.Chunks[0]
	c.ID[5] = 1
	in[0].Manifest.Chunks = append(in[0].Manifest.Chunks, c)
	j, err := o.Start(compute.Spec{Module: module(t, "linecount"), Fold: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	err, done := waitJob(t, j, 10*time.Second)
	if !done || err == nil || !strings.Contains(err.Error(), "state") {
		t.Errorf("a fold state over MaxState: done %v, err %v", done, err)
	}
}

// TestReviewOwnerModuleEvictedBeforeAssemble: Start compiles the job's
// module into the owner's runtime, whose cache is an LRU of MaxModules
// (16 by default); the boundary lines and the reduce run there at the
// job's end without compiling again. Jobs of other modules started in the
// meantime (17 distinct modules on one daemon) evict it, and the long job
// fails at its very end with "unknown module".
func TestReviewOwnerModuleEvictedBeforeAssemble(t *testing.T) {
	ctx := context.Background()
	rt, err := sandbox.New(ctx, sandbox.Config{MaxModules: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	env := &fakeEnv{}
	o, err := compute.NewOwner(compute.OwnerConfig{Env: env, Runtime: rt,
		Keys:   pipeline.Config{Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID())},
		Verify: compute.VerifyConfig{Replicas: 1}})
	if err != nil {
		t.Fatal(err)
	}
	env.setPeers(compute.Peer{ID: "A", Slots: 8})
	release := make(chan struct{})
	env.run = func(ctx context.Context, p string, task *compute.Task) (*compute.Result, error) {
		<-release
		return ok("1\n"), nil
	}
	base := module(t, "linecount")  // its reduce takes the fake "1\n" outputs
	variant := func(i int) []byte { // the same module with a custom section: another ID
		return append(append([]byte(nil), base...), 0x00, 0x04, 0x02, 'x', byte('a'+i), 0x00)
	}
	first, err := o.Start(compute.Spec{Module: variant(0), Reduce: true}, fakeInputs(t, 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	var others []*compute.Job
	for i := 1; i <= 2; i++ {
		j, err := o.Start(compute.Spec{Module: variant(i), Reduce: true}, fakeInputs(t, 1, nil))
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, j)
	}
	close(release)
	// Generous: each job compiles a 2.6 MB module again at its end, which
	// takes seconds under -race on a loaded 2-core machine.
	if err, done := waitJob(t, first, 2*time.Minute); !done || err != nil {
		t.Errorf("the first job, whose module other jobs evicted from the owner's cache: done %v, err %v", done, err)
	}
	for _, j := range others {
		waitJob(t, j, 2*time.Minute)
	}
}
