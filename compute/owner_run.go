package compute

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// runEnd is one run's end, from its goroutine to the job's loop.
type runEnd struct {
	a   Assignment
	res *Result
	err error
}

// run is the job's loop: it feeds the scheduler, starts the runs it
// assigns, counts their results and, when every task is accepted,
// assembles the output.
func (j *Job) run(ctx context.Context, id JobID) {
	o := j.o
	ps := j.plan(ctx, id)
	j.update(func(s *JobStatus) { s.Tasks = len(ps) })
	sc := o.cfg.Sched
	sc.Slice.Salt = id.String()
	sched := NewScheduler(sc)
	sched.SetPeers(o.cfg.Env.Peers())
	tallies := make([]*Tally, len(ps))
	results := make([]*Result, len(ps))
	pendingRes := make([]map[string]*Result, len(ps))
	local := make([]bool, len(ps))
	lastErr := make([]string, len(ps))
	running := make([]int, len(ps))
	accepted := 0
	ends := make(chan runEnd, 64)
	var wg sync.WaitGroup
	// Runs live under their own context: when the job is decided, the
	// runs still out (replicas past a quorum, slow peers) are cut off and
	// their ends drained, so no goroutine stays blocked on ends.
	runCtx, stopRuns := context.WithCancel(ctx)
	stopped := false
	drain := func() {
		if stopped {
			return
		}
		stopped = true
		stopRuns()
		go func() { wg.Wait(); close(ends) }()
		for range ends {
		}
	}
	defer drain()
	now := time.Now()
	add := func(i int) {
		_ = sched.Add(i, ps[i].holders, ps[i].group, 1, now)
	}
	for i, p := range ps {
		if !j.spec.Fold || p.task.First {
			add(i)
		}
	}
	fail := func(err error) {
		drain()
		state := StateFailed
		if errors.Is(err, context.Canceled) {
			state = StateCancelled
		}
		j.finish(state, err, nil)
	}
	refresh := time.NewTicker(time.Second)
	defer refresh.Stop()
	wakeT := time.NewTimer(time.Hour)
	defer wakeT.Stop()
	for accepted < len(ps) {
		now = time.Now()
		for _, a := range sched.Next(now) {
			if tallies[a.Task] == nil {
				o.vmu.Lock()
				tallies[a.Task] = o.verifier.StartWith(a.Peer, j.spec.Replicas)
				o.vmu.Unlock()
				if n := tallies[a.Task].Want(); n > 1 {
					sched.Want(a.Task, n, now)
				}
			}
			running[a.Task]++
			t := ps[a.Task].task
			_, _ = rand.Read(t.Nonce[:])
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := o.cfg.Env.Run(runCtx, a.Peer, &t, j.spec.Module, j.granter(runCtx, &t, ps[a.Task].file, ps[a.Task].ref), j.spec.Deadline+30*time.Second, &j.tr)
				ends <- runEnd{a: a, res: res, err: err}
			}()
		}
		j.update(func(s *JobStatus) { s.Backlog, s.Slice = sched.Backlog(), len(sched.Members()) })
		var wake <-chan time.Time
		if w := sched.Wake(now); !w.IsZero() {
			wakeT.Reset(max(time.Until(w), time.Millisecond))
			wake = wakeT.C
		}
		var ev runEnd
		select {
		case <-ctx.Done():
			fail(ctx.Err())
			return
		case <-refresh.C:
			sched.SetPeers(o.cfg.Env.Peers())
			continue
		case <-wake:
			continue
		case ev = <-ends:
		}
		i, now := ev.a.Task, time.Now()
		running[i]--
		if ev.res != nil && ev.res.Fetched > 0 {
			// The shard a peer without the chunk fetched (or the k it
			// rebuilt it from) moved for the job too.
			j.update(func(s *JobStatus) { s.Network += ev.res.Fetched })
		}
		end := RunFailed
		switch {
		case ev.err != nil:
			lastErr[i] = ev.err.Error()
			o.cfg.Logger.Info("compute: run failed", "task", i, "err", ev.err)
		case ev.res.Status == StatusBusy:
			end = RunBusy
		case ev.res.Status == StatusDeadline:
			// Wall time depends on the peer and its load: a run that
			// hit its deadline is not a vote; it goes elsewhere, and the
			// job fails only when no peer finishes it in time.
			lastErr[i] = fmt.Sprintf("%s: %s", ev.res.Status, ev.res.Message)
			o.cfg.Logger.Info("compute: run hit its deadline", "task", i)
		case ev.res.Status == StatusOK || ev.res.Status.ModuleFailure():
			end = RunDone
		default:
			lastErr[i] = fmt.Sprintf("%s: %s", ev.res.Status, ev.res.Message)
			o.cfg.Logger.Info("compute: run refused", "task", i, "status", ev.res.Status, "msg", ev.res.Message)
		}
		sched.Ended(i, ev.a.Peer, end, now)
		if end != RunDone {
			if acc, _ := tallies[i].Done(); !acc && running[i] == 0 && sched.Candidates(i) == 0 {
				fail(fmt.Errorf("task %d (file %q): no compute peer left to run it (%d tried; the last said: %s)", i, j.inputs[ps[i].file].Name, sched.Tried(i), lastErr[i]))
				return
			}
			continue
		}
		res := ev.res
		j.update(func(s *JobStatus) { s.Runs++ })
		if res.Local {
			local[i] = true
		}
		if pendingRes[i] == nil {
			pendingRes[i] = map[string]*Result{}
		}
		pendingRes[i][ev.a.Peer] = res
		o.vmu.Lock()
		verdicts := tallies[i].Add(ev.a.Peer, res.Digest())
		acc, failed := tallies[i].Done()
		want := tallies[i].Want()
		o.vmu.Unlock()
		for _, v := range verdicts {
			o.cfg.Env.Observe(v.Peer, v.Agreed)
			if !v.Agreed {
				j.update(func(s *JobStatus) { s.Wrong++ })
			}
		}
		switch {
		case failed:
			fail(fmt.Errorf("task %d (file %q): its %d runs did not agree", i, j.inputs[ps[i].file].Name, want))
			return
		case !acc:
			sched.Want(i, want, now)
			if running[i] == 0 && sched.Candidates(i) == 0 {
				fail(fmt.Errorf("task %d (file %q): it needs %d more agreeing runs and no compute peer is left to run it (%d tried)", i, j.inputs[ps[i].file].Name, want-tallies[i].Runs(), sched.Tried(i)))
				return
			}
			continue
		}
		sched.Complete(i)
		win := tallies[i].Winner()
		for _, r := range pendingRes[i] {
			if r.Digest() == win {
				results[i] = r
				break
			}
		}
		pendingRes[i] = nil
		accepted++
		agreeing := 0
		for _, v := range verdicts {
			if v.Agreed {
				agreeing++
			}
		}
		j.update(func(s *JobStatus) {
			s.Done++
			if local[i] {
				s.Local++
			}
			if agreeing >= 2 {
				s.Verified++
			}
		})
		r := results[i]
		if r.Status != StatusOK {
			fail(fmt.Errorf("task %d (file %q): the module failed: %s: %s", i, j.inputs[ps[i].file].Name, r.Status, r.Message))
			return
		}
		if j.spec.Fold && !ps[i].last {
			if len(r.Output) > MaxState {
				fail(fmt.Errorf("task %d (file %q): a fold step's state is %d bytes, at most %d", i, j.inputs[ps[i].file].Name, len(r.Output), MaxState))
				return
			}
			ps[i+1].task.State = bytes.Clone(r.Output)
			if ps[i+1].task.State == nil {
				ps[i+1].task.State = []byte{}
			}
			add(i + 1)
		}
	}
	drain()
	out, err := j.assemble(ctx, ps, results)
	if err != nil {
		fail(err)
		return
	}
	j.finish(StateDone, nil, out)
}

// granter returns the function that answers a run's need for its chunk's
// key: after checking the proof of the chunk's key nonce against the
// stripe's record, the key of that chunk.
func (j *Job) granter(ctx context.Context, t *Task, file int, ref pipeline.ChunkRef) func(*Need) *Grant {
	return func(n *Need) *Grant {
		if n.Proof == nil {
			return &Grant{Refuse: "no proof"}
		}
		root, err := j.o.cfg.Env.Root(ctx, t.Stripe, t.Shard)
		if err != nil {
			return &Grant{Refuse: err.Error()}
		}
		if err := proof.Verify(root, KeyChallenge(t), n.Proof); err != nil {
			return &Grant{Refuse: err.Error()}
		}
		nonce, err := KeyNonceFrom(t, n.Proof)
		if err != nil {
			return &Grant{Refuse: err.Error()}
		}
		k, err := j.keys(file).ChunkKey(ctx, ref, nonce)
		if err != nil {
			return &Grant{Refuse: err.Error()}
		}
		return &Grant{Key: k}
	}
}

// assemble builds the job's output from its accepted results: per file,
// the tasks' outputs in order with the lines that cross their boundaries
// run here; or each file's fold result; then the reduce, if asked.
func (j *Job) assemble(ctx context.Context, ps []*planned, results []*Result) ([]byte, error) {
	rt := j.o.cfg.Runtime
	// Other jobs may have pushed the module out of the cache since Start.
	mod, err := rt.Compile(ctx, j.spec.Module)
	if err != nil {
		return nil, err
	}
	lim := sandbox.Limits{Deadline: j.spec.Deadline, MaxOutput: j.spec.MaxOutput, Memory: j.spec.Memory}
	// Boundary lines, each run once here, in parallel.
	type piece struct {
		line []byte
		name string // an empty file's, for its fold
		out  []byte
	}
	var parts [][]byte // outputs in order; a nil entry is a boundary piece's slot
	var pieces []*piece
	var order []*piece // parallel to parts: the piece of a nil part
	i := 0
	for fi, in := range j.inputs {
		if len(in.Manifest.Chunks) == 0 {
			if j.spec.Fold { // an empty file: its fold is a run over nothing
				p := &piece{line: []byte{}, name: in.Name}
				pieces = append(pieces, p)
				parts, order = append(parts, nil), append(order, p)
			}
			continue
		}
		var jn Joiner
		for ; i < len(ps) && ps[i].file == fi; i++ {
			r := results[i]
			if !j.spec.Fold {
				if len(jn.Pending()) > MaxOutput {
					return nil, fmt.Errorf("file %q has a line of more than %d bytes: run it with --fold, not line by line", in.Name, MaxOutput)
				}
				if line := jn.Next(r.Head, r.Tail, r.Continues); line != nil {
					p := &piece{line: bytes.Clone(line)}
					pieces = append(pieces, p)
					parts, order = append(parts, nil), append(order, p)
				}
				parts, order = append(parts, r.Output), append(order, nil)
			} else if ps[i].last {
				parts, order = append(parts, r.Output), append(order, nil)
			}
		}
	}
	work := make(chan *piece)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				st := sandbox.Task{Module: mod, Args: append([]string{"map"}, j.spec.Args...), Stdin: bytes.NewReader(p.line), Limits: lim}
				if j.spec.Fold {
					st.Args = append([]string{"fold"}, j.spec.Args...)
					st.Env = map[string]string{"MURMUR_FINAL": "1", "MURMUR_NAME": p.name}
				}
				out, err := rt.Run(ctx, st)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					continue
				}
				p.out = out.Stdout
			}
		}()
	}
	for _, p := range pieces {
		work <- p
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return nil, fmt.Errorf("a line across chunks, run here: %w", err)
	default:
	}
	var out []byte
	for k, b := range parts {
		if b == nil && order[k] != nil {
			b = order[k].out
		}
		out = append(out, b...)
		if len(out) > MaxOutput {
			return nil, fmt.Errorf("the job's output exceeds %d bytes", MaxOutput)
		}
	}
	if !j.spec.Reduce {
		return out, nil
	}
	res, err := rt.Run(ctx, sandbox.Task{Module: mod, Args: append([]string{"reduce"}, j.spec.Args...), Stdin: bytes.NewReader(out), Limits: lim})
	if err != nil {
		return nil, fmt.Errorf("reduce: %w", err)
	}
	return res.Stdout, nil
}
