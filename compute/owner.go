package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Env is what a job's owner needs from its node.
type Env interface {
	// Peers returns the compute peers and their slots (gossip).
	Peers() []Peer
	// Holders returns who holds a shard, when the manifest's hints do
	// not say.
	Holders(ctx context.Context, id erasure.ShardID) []string
	// Root returns the proof root of shard i of stripe d, from the
	// owner's own record of the stripe.
	Root(ctx context.Context, d *erasure.Descriptor, i int) (proof.Root, error)
	// Run runs t on peer p (Dialer.Run).
	Run(ctx context.Context, p string, t *Task, wasm []byte, grant func(*Need) *Grant, timeout time.Duration, tr *Traffic) (*Result, error)
	// Observe records a verdict on p's result as first-hand evidence.
	Observe(p string, agreed bool)
}

// OwnerConfig configures an Owner.
type OwnerConfig struct {
	Env     Env
	Keys    pipeline.Config  // the keys of inputs that bring none (Input.Keys)
	Runtime *sandbox.Runtime // runs boundary lines and reduces here
	Verify  VerifyConfig
	Sched   SchedConfig
	Logger  *slog.Logger
}

// Owner runs the jobs of one owner. It is safe for concurrent use.
type Owner struct {
	cfg OwnerConfig

	vmu      sync.Mutex
	verifier *Verifier

	mu   sync.Mutex
	jobs map[JobID]*Job
	seq  []JobID
}

// NewOwner returns an Owner.
func NewOwner(cfg OwnerConfig) (*Owner, error) {
	if cfg.Env == nil || cfg.Runtime == nil {
		return nil, errors.New("compute: an owner needs its node and a runtime")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := NewVerifier(cfg.Verify)
	if err != nil {
		return nil, err
	}
	return &Owner{cfg: cfg, verifier: v, jobs: map[JobID]*Job{}}, nil
}

// Spec is a job as its owner asks for it.
type Spec struct {
	Module    []byte
	Args      []string
	Fold      bool // per file, chunk after chunk ("fold"), not per line
	Reduce    bool
	Replicas  int           // 0: the owner's default; at most 9
	Deadline  time.Duration // per run; default 60s, at most MaxDeadline
	MaxOutput int           // per run; default and most MaxOutput
	Memory    int64         // per run; default 256 MiB; a peer that gives less does not run it
}

// DefaultMemory is a task's memory limit unless its job says otherwise.
const DefaultMemory = 256 << 20

// Input is one file of a job's input.
type Input struct {
	Name     string
	Manifest *pipeline.Manifest
	// Keys derives its chunks' keys; nil: the owner's own (OwnerConfig.Keys).
	Keys ChunkKeys
}

// keys returns the ChunkKeys of input i.
func (j *Job) keys(i int) ChunkKeys {
	if k := j.inputs[i].Keys; k != nil {
		return k
	}
	return ConfigKeys{j.o.cfg.Keys}
}

// The states of a job.
const (
	StateRunning   = "running"
	StateDone      = "done"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// JobStatus is a job's progress.
type JobStatus struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	Error      string    `json:"error,omitempty"`
	Inputs     int       `json:"inputs"`
	InputBytes int64     `json:"input_bytes"`
	Tasks      int       `json:"tasks"`
	Done       int       `json:"done"`
	Local      int       `json:"local"`    // tasks one of whose runs read its chunk on its holder
	Verified   int       `json:"verified"` // tasks accepted on two or more agreeing runs
	Runs       int       `json:"runs"`     // runs answered
	Wrong      int       `json:"wrong"`    // runs outvoted
	Backlog    int       `json:"backlog"`
	Slice      int       `json:"slice"`         // compute peers in the job's slice now
	Network    int64     `json:"network_bytes"` // moved for the job: messages and shards fetched, outputs excluded
	OutputLen  int       `json:"output_bytes"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended,omitzero"`
	Seconds    float64   `json:"seconds"`
	Replicas   int       `json:"replicas"`
	ModuleHash string    `json:"module"`
}

// Job is one running or finished job.
type Job struct {
	o      *Owner
	spec   Spec
	inputs []Input
	cancel context.CancelFunc
	done   chan struct{}
	tr     Traffic

	mu     sync.Mutex
	st     JobStatus
	output []byte
}

// Start starts a job over inputs.
func (o *Owner) Start(spec Spec, inputs []Input) (*Job, error) {
	if len(spec.Module) == 0 || len(spec.Module) > MaxModule {
		return nil, fmt.Errorf("compute: a module of %d bytes", len(spec.Module))
	}
	if len(spec.Args) > MaxArgs-1 {
		return nil, fmt.Errorf("compute: %d arguments, at most %d", len(spec.Args), MaxArgs-1)
	}
	if len(inputs) == 0 {
		return nil, errors.New("compute: a job needs input")
	}
	if spec.Deadline <= 0 {
		spec.Deadline = 60 * time.Second
	}
	if spec.Deadline > MaxDeadline {
		return nil, fmt.Errorf("compute: a task deadline of %v, at most %v", spec.Deadline, MaxDeadline)
	}
	if spec.Replicas < 0 || spec.Replicas > 9 {
		return nil, fmt.Errorf("compute: %d replicas, want 1 to 9", spec.Replicas)
	}
	if spec.Memory == 0 {
		spec.Memory = DefaultMemory
	}
	if spec.Memory < 0 || spec.Memory > MaxMemory {
		return nil, fmt.Errorf("compute: a task memory limit of %d bytes, want 1 to %d", spec.Memory, int64(MaxMemory))
	}
	if spec.MaxOutput <= 0 || spec.MaxOutput > MaxOutput {
		spec.MaxOutput = MaxOutput
	}
	if spec.Replicas == 0 {
		spec.Replicas = o.verifier.cfg.Replicas
	}
	if _, err := o.cfg.Runtime.Compile(context.Background(), spec.Module); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &Job{o: o, spec: spec, inputs: inputs, cancel: cancel, done: make(chan struct{})}
	j.st = JobStatus{ID: NewJobID().String(), State: StateRunning, Inputs: len(inputs),
		Started: time.Now(), Replicas: spec.Replicas, ModuleHash: ModuleIDOf(spec.Module).String()}
	for _, in := range inputs {
		j.st.InputBytes += in.Manifest.Size
	}
	id, _ := ParseJobID(j.st.ID)
	o.mu.Lock()
	o.jobs[id] = j
	o.seq = append(o.seq, id)
	o.forgetLocked()
	o.mu.Unlock()
	go j.run(ctx, id)
	return j, nil
}

// KeepJobs is how many ended jobs an owner remembers, with their outputs;
// older ones are forgotten.
const KeepJobs = 32

// forgetLocked drops the oldest ended jobs beyond KeepJobs.
func (o *Owner) forgetLocked() {
	ended := 0
	for _, id := range o.seq {
		if o.jobs[id].ended() {
			ended++
		}
	}
	keep := o.seq[:0]
	for _, id := range o.seq {
		if ended > KeepJobs && o.jobs[id].ended() {
			delete(o.jobs, id)
			ended--
			continue
		}
		keep = append(keep, id)
	}
	o.seq = keep
}

// Close cancels the owner's running jobs and waits for them to end.
func (o *Owner) Close() {
	o.mu.Lock()
	js := make([]*Job, 0, len(o.jobs))
	for _, j := range o.jobs {
		js = append(js, j)
	}
	o.mu.Unlock()
	for _, j := range js {
		j.Cancel()
		<-j.done
	}
}

func (j *Job) ended() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// Job returns the job id, or nil.
func (o *Owner) Job(id JobID) *Job {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.jobs[id]
}

// Jobs returns every job's status, oldest first.
func (o *Owner) Jobs() []JobStatus {
	o.mu.Lock()
	js := make([]*Job, 0, len(o.seq))
	for _, id := range o.seq {
		js = append(js, o.jobs[id])
	}
	o.mu.Unlock()
	out := make([]JobStatus, len(js))
	for i, j := range js {
		out[i] = j.Status()
	}
	return out
}

// Streak returns a peer's streak of agreeing results.
func (o *Owner) Streak(p string) int {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	return o.verifier.Streak(p)
}

// Status returns the job's progress.
func (j *Job) Status() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.st
	s.Network += j.tr.In.Load() + j.tr.Out.Load()
	if s.Ended.IsZero() {
		s.Seconds = time.Since(s.Started).Seconds()
	}
	return s
}

// Cancel stops the job.
func (j *Job) Cancel() { j.cancel() }

// Wait waits for the job to end and returns its error.
func (j *Job) Wait(ctx context.Context) error {
	select {
	case <-j.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s := j.Status()
	if s.State != StateDone {
		return fmt.Errorf("compute: job %s %s: %s", s.ID[:12], s.State, s.Error)
	}
	return nil
}

// Done is closed when the job has ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Output returns the job's output once it is done.
func (j *Job) Output() []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.output
}

func (j *Job) update(f func(*JobStatus)) {
	j.mu.Lock()
	f(&j.st)
	j.mu.Unlock()
}

func (j *Job) finish(state string, err error, out []byte) {
	j.mu.Lock()
	j.st.State, j.st.Ended = state, time.Now()
	j.st.Seconds = j.st.Ended.Sub(j.st.Started).Seconds()
	if err != nil {
		j.st.Error = err.Error()
	}
	j.output, j.st.OutputLen = out, len(out)
	j.mu.Unlock()
	close(j.done)
}

// planned is one task of a job, before it runs.
type planned struct {
	task    Task // without Job, Nonce
	file    int
	holders []string
	group   string
	ref     pipeline.ChunkRef
	last    bool // the file's last chunk
}

// plan lists a job's tasks, in input order.
func (j *Job) plan(ctx context.Context, id JobID) []*planned {
	var ps []*planned
	for fi, in := range j.inputs {
		m := in.Manifest
		for ci, c := range m.Chunks {
			d := m.Stripes[c.Stripe]
			t := Task{Job: id, Index: len(ps), Module: ModuleIDOf(j.spec.Module), Mode: ModeMap, Args: j.spec.Args,
				First: ci == 0, Last: ci == len(m.Chunks)-1,
				Stripe: d, Shard: c.Shard, Chunk: c.ID, Size: c.Size, Offset: c.Offset, Stored: c.Stored,
				DeadlineMillis: int(j.spec.Deadline / time.Millisecond), MaxOutput: j.spec.MaxOutput, Memory: j.spec.Memory}
			if j.spec.Fold {
				t.Mode, t.Name, t.Final = ModeFold, in.Name, ci == len(m.Chunks)-1
			}
			if c.Keyed() {
				k, err := j.keys(fi).ChunkKey(ctx, c, nil)
				if err == nil {
					t.Key = k
				}
			}
			p := &planned{task: t, file: fi, ref: c, last: t.Last, group: d.Shards[c.Shard].ID.String()}
			if m.Holders != nil && len(m.Holders[c.Stripe]) > c.Shard && m.Holders[c.Stripe][c.Shard] != "" {
				p.holders = []string{string(m.Holders[c.Stripe][c.Shard])}
			} else {
				p.holders = j.o.cfg.Env.Holders(ctx, d.Shards[c.Shard].ID)
			}
			ps = append(ps, p)
		}
	}
	return ps
}
