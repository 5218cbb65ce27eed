package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Conn is one run's stream as frames: the worker reads the owner's
// messages and writes its own. The transport (p2p.go) bounds their size;
// a deadline ends a read or write that waits past it.
type Conn interface {
	ReadFrame(max int) ([]byte, error) // a frame of at most max bytes
	WriteFrame([]byte) error
	SetDeadline(time.Time) error
}

// taskWait bounds how long a worker waits for an owner: for the task,
// and for each answer to its needs beyond the task's own deadline.
const taskWait = 30 * time.Second

// Shards is where a worker gets a task's data shard: its own store
// first, else the cloud.
type Shards interface {
	// Local returns the shard from this node's own store, or an error
	// wrapping store.ErrNotFound.
	Local(ctx context.Context, id erasure.ShardID) ([]byte, error)
	// Fetch returns data shard i of the stripe d from the cloud,
	// verified, rebuilt from any k of the stripe if it cannot be had,
	// and how many bytes it moved.
	Fetch(ctx context.Context, d *erasure.Descriptor, i int) ([]byte, int64, error)
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Slots int // tasks run at once; 0 runs none (every task is answered busy)
	// Memory is the most a task may take, the Runtime's MemoryLimit; a
	// task that asks for more is refused (it goes to a bigger peer).
	Memory  int64
	Runtime *sandbox.Runtime
	Shards  Shards
	// CacheBytes bounds the shards fetched for tasks kept for the next
	// tasks of the same shard; default 64 MiB.
	CacheBytes int64
	Logger     *slog.Logger

	// OnFree, if set, hears the free slots whenever they change.
	OnFree func(free int)

	// Corrupt, for tests, changes every result this worker sends: a peer
	// that lies about its outputs.
	Corrupt func(*Result)
}

// Worker runs tasks for owners, in its slots.
type Worker struct {
	cfg   WorkerConfig
	cache *shardCache

	mu    sync.Mutex
	share *FairShare // the slots, divided among owners
	stats WorkerStats
}

// WorkerStats counts what a worker did.
type WorkerStats struct {
	Slots   int   `json:"slots"`
	Running int   `json:"running"`
	Runs    int64 `json:"runs"`
	Local   int64 `json:"local"`
	Busy    int64 `json:"busy"`
	Failed  int64 `json:"failed"`
	Fetched int64 `json:"fetched_bytes"`
}

// NewWorker returns a worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Slots > 0 && (cfg.Runtime == nil || cfg.Shards == nil) {
		return nil, errors.New("compute: a worker with slots needs a runtime and shards")
	}
	if cfg.Memory <= 0 {
		cfg.Memory = sandbox.DefaultMemoryLimit
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, share: NewFairShare(max(cfg.Slots, 0), 0), cache: newShardCache(cfg.CacheBytes)}, nil
}

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Slots, s.Running = w.cfg.Slots, w.share.Running()
	return s
}

func (w *Worker) freed() {
	if w.cfg.OnFree != nil {
		w.cfg.OnFree(w.Free())
	}
}

// Free returns the worker's free slots.
func (w *Worker) Free() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cfg.Slots - w.share.Running()
}

func (w *Worker) count(f func(*WorkerStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// Serve answers one run on c, from peer from. It returns when the run
// has ended (the result is written) or c failed.
func (w *Worker) Serve(ctx context.Context, c Conn, from string) error {
	_ = c.SetDeadline(time.Now().Add(taskWait))
	b, err := c.ReadFrame(maxTaskFrame)
	if err != nil {
		return err
	}
	t, err := ParseTask(b)
	if err != nil {
		return w.send(c, &Result{Status: StatusRefused, Message: err.Error()})
	}
	// The whole run, however slow the owner, ends by the task's deadline
	// and then some: a silent owner does not hold a slot for ever.
	_ = c.SetDeadline(time.Now().Add(2*taskWait + time.Duration(t.DeadlineMillis)*time.Millisecond))
	if t.Memory > w.cfg.Memory {
		return w.send(c, &Result{Status: StatusRefused, Message: fmt.Sprintf("the task needs %d bytes of memory, this node gives %d", t.Memory, w.cfg.Memory)})
	}
	w.mu.Lock()
	admitted := w.share.Admit(from, time.Now())
	if !admitted {
		w.stats.Busy++
	}
	w.mu.Unlock()
	if !admitted {
		return w.send(c, &Result{Status: StatusBusy, Message: "every compute slot is taken, or another owner waits for its share"})
	}
	w.freed()
	defer func() {
		w.mu.Lock()
		w.share.Release(from)
		w.mu.Unlock()
		w.freed()
	}()
	res := w.run(ctx, c, t)
	if res == nil {
		return errors.New("compute: the run's stream failed")
	}
	w.count(func(s *WorkerStats) {
		s.Runs++
		if res.Local {
			s.Local++
		}
		if res.Status != StatusOK {
			s.Failed++
		}
		s.Fetched += res.Fetched
	})
	if w.cfg.Corrupt != nil && res.Status == StatusOK {
		w.cfg.Corrupt(res)
	}
	w.cfg.Logger.Debug("task run", "job", t.Job, "task", t.Index, "from", from, "status", res.Status, "local", res.Local)
	return w.send(c, res)
}

func (w *Worker) send(c Conn, r *Result) error {
	b, err := r.MarshalBinary()
	if err != nil {
		return err
	}
	return c.WriteFrame(b)
}

// run runs task t; nil means the stream failed mid-way.
func (w *Worker) run(ctx context.Context, c Conn, t *Task) *Result {
	rt := w.cfg.Runtime
	if !rt.Has(sandbox.ModuleID(t.Module)) {
		if !w.ask(c, &Need{Module: true}) {
			return nil
		}
		b, err := c.ReadFrame(maxModuleFrame)
		if err != nil {
			return nil
		}
		wasm, err := parseModule(b)
		if err != nil {
			return &Result{Status: StatusRefused, Message: err.Error()}
		}
		if ModuleIDOf(wasm) != t.Module {
			return &Result{Status: StatusRefused, Message: "the module's bytes are not the module named"}
		}
		if _, err := rt.Compile(ctx, wasm); err != nil {
			return failure(ctx, err)
		}
	}
	shard, local, fetched, err := w.shard(ctx, t)
	if err != nil {
		return &Result{Status: StatusNoShard, Message: err.Error(), Fetched: fetched}
	}
	if t.Offset+t.SealedSize() > len(shard) {
		// The task's descriptor lies about the shard's size.
		return &Result{Status: StatusRefused, Message: fmt.Sprintf("the chunk (%d bytes at %d) overruns the %d-byte shard", t.SealedSize(), t.Offset, len(shard)), Local: local, Fetched: fetched}
	}
	sealed := shard[t.Offset : t.Offset+t.SealedSize()]
	key := t.Key
	if key.IsZero() {
		ch := KeyChallenge(t)
		p, err := proof.Prove(shard, ch)
		if err != nil {
			return &Result{Status: StatusInternal, Message: err.Error(), Local: local, Fetched: fetched}
		}
		if !w.ask(c, &Need{Proof: p}) {
			return nil
		}
		b, err := c.ReadFrame(maxGrantFrame)
		if err != nil {
			return nil
		}
		g, err := ParseGrant(b)
		if err != nil {
			return &Result{Status: StatusRefused, Message: err.Error(), Local: local, Fetched: fetched}
		}
		if g.Refuse != "" {
			return &Result{Status: StatusRefused, Message: "the owner refused the chunk's key: " + g.Refuse, Local: local, Fetched: fetched}
		}
		key = g.Key
	}
	ref := pipeline.ChunkRef{ID: t.Chunk, Size: t.Size, Offset: t.Offset, Stored: t.Stored}
	plain, err := pipeline.OpenChunk(&key, ref, sealed)
	if err != nil {
		return &Result{Status: StatusBadInput, Message: err.Error(), Local: local, Fetched: fetched}
	}
	res := w.exec(ctx, t, plain)
	res.Local, res.Fetched = local, fetched
	return res
}

func (w *Worker) ask(c Conn, n *Need) bool {
	b, err := n.MarshalBinary()
	return err == nil && c.WriteFrame(b) == nil
}

// shard returns the task's data shard, from this node's store (local)
// or fetched.
func (w *Worker) shard(ctx context.Context, t *Task) (b []byte, local bool, fetched int64, err error) {
	id := t.Stripe.Shards[t.Shard].ID
	b, err = w.cfg.Shards.Local(ctx, id)
	if err == nil && erasure.SumShard(b) == id {
		return b, true, 0, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		w.cfg.Logger.Warn("compute: own shard unreadable, fetching it", "shard", id.Short(), "err", err)
	}
	if b := w.cache.get(id); b != nil {
		return b, false, 0, nil
	}
	b, fetched, err = w.cfg.Shards.Fetch(ctx, t.Stripe, t.Shard)
	if err != nil {
		return nil, false, fetched, err
	}
	w.cache.put(id, b)
	return b, false, fetched, nil
}

// KeyChallenge is the challenge whose proof earns task t's chunk key: the
// leaves of its shard that hold the chunk's key nonce, under the task's
// nonce.
func KeyChallenge(t *Task) *proof.Challenge {
	lo := (t.Offset + crypt.KeyNonceOffset) / proof.LeafSize
	hi := (t.Offset + crypt.KeyNonceOffset + crypt.KeyNonceLen - 1) / proof.LeafSize
	ch := &proof.Challenge{Shard: t.Stripe.Shards[t.Shard].ID, Nonce: t.Nonce}
	for i := lo; i <= hi; i++ {
		ch.Leaves = append(ch.Leaves, i)
	}
	return ch
}

// KeyNonceFrom returns the chunk's key nonce from a verified proof of
// KeyChallenge(t).
func KeyNonceFrom(t *Task, p *proof.Proof) ([]byte, error) {
	start := t.Offset + crypt.KeyNonceOffset
	var out []byte
	for _, l := range p.Leaves {
		base := l.Index * proof.LeafSize
		for o := max(start, base); o < min(start+crypt.KeyNonceLen, base+len(l.Data)); o++ {
			out = append(out, l.Data[o-base])
		}
	}
	if len(out) != crypt.KeyNonceLen {
		return nil, fmt.Errorf("compute: the proof holds %d of the nonce's %d bytes", len(out), crypt.KeyNonceLen)
	}
	return out, nil
}

// exec runs the module over the chunk's plaintext.
func (w *Worker) exec(ctx context.Context, t *Task, plain []byte) *Result {
	lim := sandbox.Limits{Deadline: time.Duration(t.DeadlineMillis) * time.Millisecond, MaxOutput: t.MaxOutput, Memory: t.Memory}
	st := sandbox.Task{Module: sandbox.ModuleID(t.Module), Limits: lim}
	res := &Result{Status: StatusOK}
	switch t.Mode {
	case ModeMap:
		var body []byte
		res.Head, body, res.Tail, res.Continues = Split(plain, t.First, t.Last)
		res.Head, res.Tail = bytes.Clone(res.Head), bytes.Clone(res.Tail)
		if len(body) == 0 {
			return res
		}
		st.Args = append([]string{"map"}, t.Args...)
		st.Stdin = bytes.NewReader(body)
	case ModeFold:
		st.Args = append([]string{"fold"}, t.Args...)
		st.Env = map[string]string{"MURMUR_NAME": t.Name}
		if t.State != nil {
			// The previous step's output, one line of base64 by the ABI.
			st.Env["MURMUR_STATE"] = strings.TrimSpace(string(t.State))
		}
		if t.Final {
			st.Env["MURMUR_FINAL"] = "1"
		}
		st.Stdin = bytes.NewReader(plain)
	}
	out, err := w.cfg.Runtime.Run(ctx, st)
	if err != nil {
		return failure(ctx, err)
	}
	res.Output = out.Stdout
	return res
}

// failure turns a sandbox error into a result: the module's own failure,
// which replicas agree on, or this worker's (it is stopping), which sends
// the task elsewhere.
func failure(ctx context.Context, err error) *Result {
	r := &Result{Message: err.Error()}
	var ee *sandbox.ExitError
	switch {
	case ctx.Err() != nil:
		r.Status = StatusInternal
	case errors.As(err, &ee):
		r.Status, r.Code = StatusExit, ee.Code
	case errors.Is(err, sandbox.ErrDeadline):
		r.Status = StatusDeadline
	case errors.Is(err, sandbox.ErrMemory):
		r.Status = StatusMemory
	case errors.Is(err, sandbox.ErrOutput):
		r.Status = StatusOutput
	case errors.Is(err, sandbox.ErrBadModule):
		r.Status = StatusBadMod
	default:
		r.Status = StatusInternal
	}
	return r
}

// shardCache keeps fetched shards, least recently used out, within a
// byte budget.
type shardCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order []erasure.ShardID
	m     map[erasure.ShardID][]byte
}

func newShardCache(max int64) *shardCache {
	return &shardCache{max: max, m: map[erasure.ShardID][]byte{}}
}

func (c *shardCache) get(id erasure.ShardID) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[id]
	if b != nil {
		c.touch(id)
	}
	return b
}

func (c *shardCache) touch(id erasure.ShardID) {
	for i, x := range c.order {
		if x == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.order = append(c.order, id)
}

func (c *shardCache) put(id erasure.ShardID, b []byte) {
	if int64(len(b)) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		c.touch(id)
		return
	}
	for c.size+int64(len(b)) > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.size -= int64(len(c.m[old]))
		delete(c.m, old)
	}
	c.m[id] = b
	c.size += int64(len(b))
	c.order = append(c.order, id)
}
