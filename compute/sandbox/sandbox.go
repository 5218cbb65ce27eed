package sandbox

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Errors of the sandbox; returned errors wrap them with the operation.
var (
	ErrBadModule     = errors.New("sandbox: bad module")
	ErrUnknownModule = errors.New("sandbox: unknown module")
	ErrDeadline      = errors.New("sandbox: run deadline exceeded")
	ErrMemory        = errors.New("sandbox: memory limit exceeded")
	ErrOutput        = errors.New("sandbox: output limit exceeded")
	ErrTrap          = errors.New("sandbox: module trapped")
	ErrExit          = errors.New("sandbox: non-zero exit")
	ErrBadTask       = errors.New("sandbox: bad task")
	ErrClosed        = errors.New("sandbox: runtime closed")
)

// ExitError is the error of a run whose module exited with a non-zero
// code. errors.Is(err, ErrExit) holds for it.
type ExitError struct {
	Code   int
	Stderr string // the kept stderr (at most Limits.MaxStderr bytes)
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("sandbox: job exited with code %d", e.Code)
	if line, _, _ := strings.Cut(strings.TrimSpace(e.Stderr), "\n"); line != "" {
		msg += ": " + line
	}
	return msg
}

// Is reports whether target is ErrExit.
func (e *ExitError) Is(target error) bool { return target == ErrExit }

// Defaults of Config and Limits.
const (
	DefaultMemoryLimit = 256 << 20
	DefaultMaxModules  = 16
	DefaultDeadline    = 60 * time.Second
	DefaultMaxOutput   = 64 << 20
	DefaultMaxStderr   = 64 << 10
)

const (
	pageSize = 64 << 10
	maxPages = 1 << 16 // wasm32: 4 GiB
)

// Config configures a Runtime. Zero fields take the defaults.
type Config struct {
	// MemoryLimit is the most linear memory, in bytes, one running module
	// instance may have; it is rounded up to whole 64 KiB pages, and at
	// most 4 GiB. Default 256 MiB.
	MemoryLimit int64
	// MaxModules is how many compiled modules are kept (least recently
	// used ones are evicted). Default 16.
	MaxModules int
	// Logger receives compile and run events at debug level. Default:
	// discard.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxModules == 0 {
		c.MaxModules = DefaultMaxModules
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.MemoryLimit < 0 || c.MemoryLimit > maxPages*pageSize:
		return fmt.Errorf("sandbox: memory limit %d is not within 1..4 GiB", c.MemoryLimit)
	case c.MaxModules < 0:
		return fmt.Errorf("sandbox: negative MaxModules %d", c.MaxModules)
	}
	return nil
}

// Limits bound one run. Zero fields take the defaults.
type Limits struct {
	// Deadline is the wall time of one run, enforced inside the running
	// code. Default 60s.
	Deadline time.Duration
	// MaxOutput is the most stdout bytes a run may write; writing more
	// stops it with ErrOutput. Default 64 MiB.
	MaxOutput int
	// MaxStderr is how many stderr bytes are kept; the rest is dropped
	// without error. Default 64 KiB.
	MaxStderr int
	// Memory is the most linear memory of this run, in bytes: 0 is the
	// Runtime's MemoryLimit; more than that is refused (ErrBadTask).
	Memory int64
}

func (l Limits) filled() Limits {
	if l.Deadline <= 0 {
		l.Deadline = DefaultDeadline
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	if l.MaxStderr <= 0 {
		l.MaxStderr = DefaultMaxStderr
	}
	return l
}

// ModuleID names a module: the SHA-256 of its bytes.
type ModuleID [32]byte

// IDOf returns the ID of the module wasm.
func IDOf(wasm []byte) ModuleID { return sha256.Sum256(wasm) }

// String returns the ID in lower-case hex.
func (id ModuleID) String() string { return hex.EncodeToString(id[:]) }

// ParseModuleID parses the hex form of a ModuleID.
func ParseModuleID(s string) (ModuleID, error) {
	var id ModuleID
	if hex.DecodedLen(len(s)) != len(id) {
		return id, fmt.Errorf("sandbox: module ID %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ModuleID{}, fmt.Errorf("sandbox: module ID %q: %w", s, err)
	}
	return id, nil
}

// Task is one run of a compiled module.
type Task struct {
	Module ModuleID
	Args   []string          // argv[1:]; argv[0] is always "job"
	Env    map[string]string // passed sorted by key
	// Stdin is the module's standard input; nil reads as empty. A read
	// that blocks holds the run past its deadline (host calls are not
	// interrupted), so pass a reader of data at hand.
	Stdin  io.Reader
	Limits Limits
}

func (t *Task) validate() error {
	for _, a := range t.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%w: argument %q holds a NUL byte", ErrBadTask, a)
		}
	}
	for k, v := range t.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%w: environment variable %q=%q", ErrBadTask, k, v)
		}
	}
	return nil
}

// Output is what a run wrote and how it exited. Stdout and Stderr belong
// to the caller.
type Output struct {
	Stdout, Stderr []byte
	Exit           int
}

// Runtime compiles and runs modules. It is safe for concurrent use.
type Runtime struct {
	cfg        Config
	limitBytes uint64
	rt         wazero.Runtime
	wasi       map[string]bool // functions exported by wasi_snapshot_preview1

	// life is held (read) by every compilation and (write) by Close
	// while it closes the wazero runtime: wazero's compiler must not run
	// on a closed runtime (it panics).
	life sync.RWMutex

	mu       sync.Mutex
	mods     map[ModuleID]*list.Element // of *entry
	lru      *list.List                 // front: most recently used
	inflight map[ModuleID]chan struct{}
	closed   bool

	compiles atomic.Int64 // successful compilations, for tests
}

type entry struct {
	id      ModuleID
	mod     wazero.CompiledModule
	users   int  // Runs instantiating it; under Runtime.mu
	evicted bool // closed when the last user is done
}

// New returns a Runtime for cfg.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	pages := (uint64(cfg.MemoryLimit) + pageSize - 1) / pageSize
	// The wazero limit stays at the wasm32 maximum: the per-run allocator
	// (see limitedMemory) enforces MemoryLimit, so that a refused grow is
	// seen and the run classified as ErrMemory, which a grow failing
	// inside wazero's own check would not be.
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(maxPages).
		WithCloseOnContextDone(true)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: instantiate WASI: %w", err)
	}
	names := map[string]bool{}
	for _, def := range rt.Module(wasi_snapshot_preview1.ModuleName).ExportedFunctionDefinitions() {
		for _, n := range def.ExportNames() {
			names[n] = true
		}
	}
	return &Runtime{
		cfg:        cfg,
		limitBytes: pages * pageSize,
		rt:         rt,
		wasi:       names,
		mods:       map[ModuleID]*list.Element{},
		lru:        list.New(),
		inflight:   map[ModuleID]chan struct{}{},
	}, nil
}

// Close stops running modules, whose Runs return ErrClosed, and releases
// the compiled ones. Later calls fail with ErrClosed.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mods = map[ModuleID]*list.Element{}
	r.lru.Init()
	r.mu.Unlock()
	r.life.Lock() // compilations under way end first
	defer r.life.Unlock()
	// A non-zero code, so that a run stopped by Close does not pass for
	// one that exited 0.
	return r.rt.CloseWithExitCode(ctx, closedExitCode)
}

const closedExitCode = 0xfffffffe

// Has reports whether the module id is compiled and cached.
func (r *Runtime) Has(id ModuleID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.mods[id]
	return ok
}

// Compile compiles wasm, once: a module already cached is not compiled
// again. It fails with ErrBadModule when wasm is not a valid module, when
// it imports anything but functions of wasi_snapshot_preview1, or when it
// does not export its memory as "memory" or needs more than MemoryLimit
// from the start.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (ModuleID, error) {
	id := IDOf(wasm)
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return id, ErrClosed
		}
		if el, ok := r.mods[id]; ok {
			r.lru.MoveToFront(el)
			r.mu.Unlock()
			return id, nil
		}
		wait, busy := r.inflight[id]
		if !busy {
			r.inflight[id] = make(chan struct{})
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return id, ctx.Err()
		}
	}

	start := time.Now()
	mod, err := r.compile(ctx, id, wasm)
	r.mu.Lock()
	close(r.inflight[id])
	delete(r.inflight, id)
	if r.closed {
		err = ErrClosed
	}
	if err != nil {
		r.mu.Unlock()
		if mod != nil {
			mod.Close(ctx)
		}
		return id, err
	}
	r.compiles.Add(1)
	r.mods[id] = r.lru.PushFront(&entry{id: id, mod: mod})
	var evicted []*entry
	for r.lru.Len() > r.cfg.MaxModules {
		e := r.lru.Remove(r.lru.Back()).(*entry)
		delete(r.mods, e.id)
		e.evicted = true
		if e.users == 0 {
			evicted = append(evicted, e)
		}
	}
	r.mu.Unlock()
	for _, e := range evicted {
		e.mod.Close(ctx)
	}
	r.cfg.Logger.Debug("sandbox: compiled", "module", id, "bytes", len(wasm), "took", time.Since(start))
	return id, nil
}

func (r *Runtime) compile(ctx context.Context, id ModuleID, wasm []byte) (wazero.CompiledModule, error) {
	r.life.RLock()
	defer r.life.RUnlock()
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	mod, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w %s: %v", ErrBadModule, id, err)
	}
	bad := func(format string, args ...any) (wazero.CompiledModule, error) {
		return mod, fmt.Errorf("%w %s: %s", ErrBadModule, id, fmt.Sprintf(format, args...))
	}
	for _, def := range mod.ImportedFunctions() {
		m, name, _ := def.Import()
		if m != wasi_snapshot_preview1.ModuleName {
			return bad("imports function %q from module %q: a job may import only from %s",
				name, m, wasi_snapshot_preview1.ModuleName)
		}
		if !r.wasi[name] {
			return bad("imports %s.%s, which the sandbox does not provide", m, name)
		}
	}
	for _, def := range mod.ImportedMemories() {
		m, name, _ := def.Import()
		return bad("imports memory %q from module %q: a job must define its own memory", name, m)
	}
	mem, ok := mod.ExportedMemories()["memory"]
	if !ok {
		return bad("does not export its memory as \"memory\"")
	}
	_ = mem // its start size is checked against each run's limit (Run)
	return mod, nil
}

// startMemory returns the linear memory a compiled module starts with.
func startMemory(mod wazero.CompiledModule) uint64 {
	if mem, ok := mod.ExportedMemories()["memory"]; ok {
		return uint64(mem.Min()) * pageSize
	}
	return 0
}

// acquire returns the compiled module id, kept open until release.
func (r *Runtime) acquire(id ModuleID) (*entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	el, ok := r.mods[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownModule, id)
	}
	r.lru.MoveToFront(el)
	e := el.Value.(*entry)
	e.users++
	return e, nil
}

func (r *Runtime) release(ctx context.Context, e *entry) {
	r.mu.Lock()
	e.users--
	last := e.evicted && e.users == 0
	r.mu.Unlock()
	if last {
		e.mod.Close(ctx)
	}
}

// Run runs t to its end and returns what it wrote. The error is nil only
// when the module exited with code 0 within its limits. When the module
// ran but failed, the Output is returned too, holding what it wrote before
// it stopped. When ctx is cancelled, Run returns ctx.Err().
func (r *Runtime) Run(ctx context.Context, t Task) (*Output, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	e, err := r.acquire(t.Module)
	if err != nil {
		return nil, err
	}
	defer r.release(ctx, e)
	lim := t.Limits.filled()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runCtx, cancel := context.WithTimeout(runCtx, lim.Deadline)
	defer cancel()
	limit := r.limitBytes
	if lim.Memory > 0 {
		if uint64(lim.Memory) > r.limitBytes {
			return nil, fmt.Errorf("%w: %d bytes of memory asked, this runtime allows %d", ErrBadTask, lim.Memory, r.limitBytes)
		}
		limit = uint64(lim.Memory)
	}
	if min := startMemory(e.mod); min > limit {
		// As a grow past the limit would be: the module's own need,
		// whatever node runs it, so replicas agree on it.
		return nil, fmt.Errorf("%w: run of %s needs %d bytes of memory at start, over the limit of %d", ErrMemory, t.Module, min, limit)
	}
	mem := &memoryAllocator{limit: limit}
	runCtx = experimental.WithMemoryAllocator(runCtx, mem)

	stdout := &limitedWriter{max: lim.MaxOutput, onOver: stop}
	stderr := &limitedWriter{max: lim.MaxStderr}
	stdin := t.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	keys := make([]string, 0, len(t.Env))
	for k := range t.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs(append([]string{"job"}, t.Args...)...).
		WithStdin(stdin).
		WithStdout(stdout).
		WithStderr(stderr).
		WithRandSource(rand.NewChaCha8(seed(t.Module, t.Args, keys, t.Env)))
	for _, k := range keys {
		mc = mc.WithEnv(k, t.Env[k])
	}

	start := time.Now()
	inst, err := r.rt.InstantiateModule(runCtx, e.mod, mc)
	if inst != nil {
		inst.Close(ctx)
	}
	out := &Output{Stdout: stdout.buf, Stderr: stderr.buf}
	r.cfg.Logger.Debug("sandbox: ran", "module", t.Module, "took", time.Since(start), "err", err)
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	if isExit {
		out.Exit = int(exit.ExitCode())
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case stdout.over.Load():
		return out, fmt.Errorf("%w: run of %s wrote more than %d bytes to stdout", ErrOutput, t.Module, lim.MaxOutput)
	case mem.refused.Load():
		return out, fmt.Errorf("%w: run of %s asked for %d bytes of memory, over the limit of %d",
			ErrMemory, t.Module, mem.asked.Load(), r.limitBytes)
	case runCtx.Err() != nil:
		return out, fmt.Errorf("%w: run of %s passed %v", ErrDeadline, t.Module, lim.Deadline)
	case isExit:
		return out, &ExitError{Code: out.Exit, Stderr: string(out.Stderr)}
	default:
		return out, fmt.Errorf("%w: run of %s: %v", ErrTrap, t.Module, err)
	}
}

// seed derives a run's random seed from what the task is: replicas of the
// same task read the same random bytes.
func seed(id ModuleID, args, keys []string, env map[string]string) [32]byte {
	h := sha256.New()
	h.Write([]byte("murmur sandbox rand v1\x00"))
	h.Write(id[:])
	field := func(s string) {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	h.Write(binary.AppendUvarint(nil, uint64(len(args))))
	for _, a := range args {
		field(a)
	}
	h.Write(binary.AppendUvarint(nil, uint64(len(keys))))
	for _, k := range keys {
		field(k)
		field(env[k])
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// limitedWriter keeps at most max bytes. Past max it drops the rest; with
// onOver set it also fails the write and calls onOver (once).
type limitedWriter struct {
	max    int
	buf    []byte
	over   atomic.Bool
	onOver func()
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	room := w.max - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	w.buf = append(w.buf, p[:max(room, 0)]...)
	if w.onOver == nil {
		return len(p), nil
	}
	if !w.over.Swap(true) {
		w.onOver()
	}
	return max(room, 0), ErrOutput
}

// memoryAllocator backs a run's linear memory and enforces the limit:
// a grow past it is refused (the module sees memory.grow return -1) and
// remembered, so that the run's failure is classified as ErrMemory.
type memoryAllocator struct {
	limit   uint64
	refused atomic.Bool
	asked   atomic.Uint64
}

func (a *memoryAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	return &linearMemory{a: a, max: min(max, a.limit), capacity: min(capacity, a.limit)}
}

type linearMemory struct {
	a        *memoryAllocator
	max      uint64
	capacity uint64
	buf      []byte
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		if size > m.a.limit {
			m.a.refused.Store(true)
			m.a.asked.Store(size)
		}
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically up to the limit; bytes past len are zero since
	// the guest cannot write them.
	c := max(size, m.capacity, min(2*uint64(cap(m.buf)), m.max))
	nb := make([]byte, size, c)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

func (m *linearMemory) Free() { m.buf = nil }
