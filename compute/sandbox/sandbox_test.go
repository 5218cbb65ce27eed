package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/compute/sandbox"
)

func run(t testing.TB, r *sandbox.Runtime, task sandbox.Task) (*sandbox.Output, error) {
	t.Helper()
	return r.Run(context.Background(), task)
}

// mustRun runs task and fails the test unless it exits 0.
func mustRun(t testing.TB, r *sandbox.Runtime, task sandbox.Task) *sandbox.Output {
	t.Helper()
	out, err := run(t, r, task)
	if err != nil {
		t.Fatalf("run %v: %v", task.Args, err)
	}
	return out
}

// checkServing proves r still runs modules after a failed run.
func checkServing(t *testing.T, r *sandbox.Runtime) {
	t.Helper()
	out := mustRun(t, r, sandbox.Task{Module: compile(t, r, "exit"), Args: []string{"0", "still serving"}})
	if out.Exit != 0 || string(out.Stderr) != "still serving\n" {
		t.Fatalf("after a failed run: exit %d, stderr %q", out.Exit, out.Stderr)
	}
}

func TestDeadlineStopsRunningCode(t *testing.T) {
	r := shared(t)
	id := compile(t, r, "loop")
	start := time.Now()
	_, err := run(t, r, sandbox.Task{Module: id, Limits: sandbox.Limits{Deadline: 300 * time.Millisecond}})
	took := time.Since(start)
	if !errors.Is(err, sandbox.ErrDeadline) {
		t.Fatalf("infinite loop: got %v, want ErrDeadline", err)
	}
	if took > 10*time.Second {
		t.Fatalf("infinite loop stopped after %v, deadline 300ms", took)
	}
	t.Logf("stopped after %v: %v", took, err)
	checkServing(t, r)
}

func TestCallerCancelIsNotDeadline(t *testing.T) {
	r := shared(t)
	id := compile(t, r, "loop")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	out, err := r.Run(ctx, sandbox.Task{Module: id})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sandbox.ErrDeadline) || out != nil {
		t.Fatalf("caller's timeout: got %v, %v; want context.DeadlineExceeded and no output", out, err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, sandbox.Task{Module: id}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: got %v, want context.Canceled", err)
	}
	checkServing(t, r)
}

func TestMemoryLimit(t *testing.T) {
	r := newRuntime(t, sandbox.Config{MemoryLimit: 64 << 20})
	id := compile(t, r, "grow")
	out, err := run(t, r, sandbox.Task{Module: id, Args: []string{"200"}})
	if !errors.Is(err, sandbox.ErrMemory) {
		t.Fatalf("200 MiB under a 64 MiB limit: got %v, want ErrMemory", err)
	}
	if !bytes.Contains(out.Stderr, []byte("out of memory")) {
		t.Errorf("stderr does not tell of the failure: %q", out.Stderr)
	}
	t.Logf("%v (exit %d)", err, out.Exit)
	// The same module within the limit succeeds: the class comes from
	// the refused grow, not from the module.
	if out := mustRun(t, r, sandbox.Task{Module: id, Args: []string{"16"}}); string(out.Stdout) != "ok 16\n" {
		t.Fatalf("16 MiB: stdout %q", out.Stdout)
	}
	// A module that fails with the Go runtime's words but within its
	// memory is an ExitError, not ErrMemory.
	_, err = run(t, r, sandbox.Task{Module: compile(t, r, "exit"), Args: []string{"2", "fatal error: out of memory"}})
	if errors.Is(err, sandbox.ErrMemory) || !errors.Is(err, sandbox.ErrExit) {
		t.Fatalf("a module claiming to be out of memory: got %v, want ErrExit", err)
	}
	checkServing(t, r)
}

func TestNoHostAccess(t *testing.T) {
	r := shared(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "created")
	// A listener on the host that the module tries to reach.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := run(t, r, sandbox.Task{Module: compile(t, r, "escape"), Args: []string{target, ln.Addr().String()}})
	var exit *sandbox.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || !errors.Is(err, sandbox.ErrExit) {
		t.Fatalf("got %v (stdout %q), want an ExitError with code 3", err, out.Stdout)
	}
	for _, want := range []string{"open failed", "create failed", "dial failed"} {
		if !strings.Contains(exit.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, exit.Stderr)
		}
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the module created %s on the host (stat: %v)", target, err)
	}
	// A connection made during the run would be waiting in the backlog.
	ln.(*net.TCPListener).SetDeadline(time.Now())
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Errorf("the module connected to %s on the host", ln.Addr())
	}
	t.Logf("stderr:\n%s", exit.Stderr)
}

func TestExitError(t *testing.T) {
	r := shared(t)
	out, err := run(t, r, sandbox.Task{Module: compile(t, r, "exit"), Args: []string{"7", "boom"}})
	var exit *sandbox.ExitError
	if !errors.As(err, &exit) || !errors.Is(err, sandbox.ErrExit) {
		t.Fatalf("got %v, want an ExitError", err)
	}
	if exit.Code != 7 || exit.Stderr != "boom\n" || out.Exit != 7 {
		t.Fatalf("got code %d stderr %q exit %d", exit.Code, exit.Stderr, out.Exit)
	}
	if !strings.Contains(err.Error(), "code 7: boom") {
		t.Errorf("message %q", err)
	}
}

func TestOutputLimit(t *testing.T) {
	r := shared(t)
	id := compile(t, r, "flood")
	out, err := run(t, r, sandbox.Task{Module: id, Args: []string{"10"}, Limits: sandbox.Limits{MaxOutput: 1 << 20}})
	if !errors.Is(err, sandbox.ErrOutput) {
		t.Fatalf("10 MiB with MaxOutput 1 MiB: got %v, want ErrOutput", err)
	}
	if len(out.Stdout) > 1<<20 {
		t.Fatalf("kept %d bytes of stdout, over the limit", len(out.Stdout))
	}
	out = mustRun(t, r, sandbox.Task{Module: id, Args: []string{"1"}, Limits: sandbox.Limits{MaxOutput: 1 << 20}})
	if len(out.Stdout) != 1<<20 {
		t.Fatalf("1 MiB with MaxOutput 1 MiB: got %d bytes", len(out.Stdout))
	}
}

func TestStderrTruncated(t *testing.T) {
	r := shared(t)
	msg := strings.Repeat("e", 1000)
	out := mustRun(t, r, sandbox.Task{Module: compile(t, r, "exit"), Args: []string{"0", msg},
		Limits: sandbox.Limits{MaxStderr: 100}})
	if string(out.Stderr) != msg[:100] {
		t.Fatalf("stderr %q, want the first 100 bytes", out.Stderr)
	}
}

func TestDeterministic(t *testing.T) {
	r := shared(t)
	id := compile(t, r, "world")
	task := sandbox.Task{Module: id, Args: []string{"x"}, Env: map[string]string{"ZED": "3", "ALPHA": "1", "MID": "2"}}
	a := mustRun(t, r, task)
	b := mustRun(t, r, task)
	if !bytes.Equal(a.Stdout, b.Stdout) || !bytes.Equal(a.Stderr, b.Stderr) {
		t.Fatalf("two runs differ:\n%s\n---\n%s", a.Stdout, b.Stdout)
	}
	t.Logf("world:\n%s", a.Stdout)
	s := string(a.Stdout)
	for _, want := range []string{
		"now 2022-01-01T00:00:00",
		"args [job x]\n",
		"env ALPHA=1\nenv MID=2\nenv ZED=3\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Another Runtime (another peer) gives the same bytes.
	other := newRuntime(t, sandbox.Config{})
	if c := mustRun(t, other, sandbox.Task{Module: compile(t, other, "world"), Args: task.Args, Env: task.Env}); !bytes.Equal(c.Stdout, a.Stdout) {
		t.Fatalf("another runtime gives other bytes:\n%s\n---\n%s", a.Stdout, c.Stdout)
	}
	// Another task reads other random bytes.
	task.Args = []string{"y"}
	c := mustRun(t, r, task)
	if randLine(a.Stdout) == randLine(c.Stdout) {
		t.Errorf("tasks with different args read the same random values: %s", randLine(a.Stdout))
	}
}

func randLine(out []byte) string {
	for l := range strings.Lines(string(out)) {
		if strings.HasPrefix(l, "crypto ") {
			return l
		}
	}
	return ""
}

func TestCompileCache(t *testing.T) {
	r := newRuntime(t, sandbox.Config{MaxModules: 1})
	ctx := context.Background()
	wasm := wasmBytes["exit"]
	id1, err := r.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := r.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || id1 != sandbox.IDOf(wasm) || sandbox.Compiles(r) != 1 || !r.Has(id1) {
		t.Fatalf("ids %s %s, compiles %d, has %v", id1, id2, sandbox.Compiles(r), r.Has(id1))
	}
	if p, err := sandbox.ParseModuleID(id1.String()); err != nil || p != id1 {
		t.Fatalf("ParseModuleID(String): %v %v", p, err)
	}
	if _, err := sandbox.ParseModuleID("abc"); err == nil {
		t.Fatal("ParseModuleID accepted a short ID")
	}
	// MaxModules 1: compiling another evicts the first.
	other := compile(t, r, "world")
	if r.Has(id1) || !r.Has(other) {
		t.Fatalf("after eviction: has first %v, has second %v", r.Has(id1), r.Has(other))
	}
	if _, err := run(t, r, sandbox.Task{Module: id1}); !errors.Is(err, sandbox.ErrUnknownModule) {
		t.Fatalf("run of an evicted module: got %v, want ErrUnknownModule", err)
	}
}

// wasmModule assembles a module from its sections (id, content).
func wasmModule(sections ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		b = append(b, s[0], byte(len(s)-1))
		b = append(b, s[1:]...)
	}
	return b
}

func name(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func importFunc(module, field string) []byte {
	s := []byte{2, 1}
	s = append(s, name(module)...)
	s = append(s, name(field)...)
	return append(s, 0x00, 0x00) // func of type 0
}

var (
	typeSection   = []byte{1, 1, 0x60, 0, 0} // one type: () -> ()
	memorySection = []byte{5, 1, 0, 1}       // one memory, min 1 page
	exportMemory  = append(append([]byte{7, 1}, name("memory")...), 0x02, 0)
)

func TestBadModules(t *testing.T) {
	r := shared(t)
	for _, tc := range []struct {
		name, wasm, want string
	}{
		{"garbage", "this is not wasm at all", "invalid magic number"},
		{"truncated", string(wasmBytes["exit"][:1000]), ""},
		{"env import", string(wasmModule(typeSection, importFunc("env", "now"), memorySection, exportMemory)),
			`imports function "now" from module "env"`},
		{"unknown WASI function", string(wasmModule(typeSection, importFunc("wasi_snapshot_preview1", "launch_missiles"), memorySection, exportMemory)),
			"does not provide"},
		{"no memory", string(wasmModule(typeSection)), `export its memory as "memory"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Compile(context.Background(), []byte(tc.wasm))
			if !errors.Is(err, sandbox.ErrBadModule) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadModule saying %q", err, tc.want)
			}
			t.Log(err)
		})
	}
	if _, err := r.Compile(context.Background(), wasmModule(typeSection, memorySection, exportMemory)); err != nil {
		t.Fatalf("a minimal valid module: %v", err)
	}
	// A module that starts with more memory than a run may have compiles
	// (another node, or a task, may allow it) and fails each run as the
	// module's own need: ErrMemory, the same on every node.
	big := wasmModule([]byte{5, 1, 0, 0x81, 0x20}, exportMemory) // 4097 pages, limit 4096
	id, err := r.Compile(context.Background(), big)
	if err != nil {
		t.Fatalf("a module starting over the limit: %v", err)
	}
	if _, err := r.Run(context.Background(), sandbox.Task{Module: id}); !errors.Is(err, sandbox.ErrMemory) || !strings.Contains(err.Error(), "at start") {
		t.Fatalf("its run: %v, want ErrMemory at start", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	if _, err := sandbox.New(context.Background(), sandbox.Config{MemoryLimit: -1}); err == nil {
		t.Fatal("New accepted a negative memory limit")
	}
	if _, err := sandbox.New(context.Background(), sandbox.Config{MemoryLimit: 5 << 30}); err == nil {
		t.Fatal("New accepted a memory limit over 4 GiB")
	}
}

// startModule is a module of one _start function with body (its
// instructions, without the final end) and one page of memory.
func startModule(body ...byte) []byte {
	code := append([]byte{0}, body...) // no locals
	code = append(code, 0x0b)
	exports := []byte{7, 2}
	exports = append(exports, name("memory")...)
	exports = append(exports, 0x02, 0)
	exports = append(exports, name("_start")...)
	exports = append(exports, 0x00, 0)
	return wasmModule(typeSection, []byte{3, 1, 0}, memorySection, exports,
		append([]byte{10, 1, byte(len(code))}, code...))
}

// Modules not written in Go: the classification does not rest on Go's
// runtime.
func TestHandWrittenModules(t *testing.T) {
	r := newRuntime(t, sandbox.Config{MemoryLimit: 64 << 20})
	ctx := context.Background()
	grow := []byte{0x41, 0x90, 0xce, 0x00, 0x40, 0} // memory.grow(10000 pages, 625 MiB); i32.const is signed LEB128
	for _, tc := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"empty start", startModule(), nil},
		{"unreachable", startModule(0x00), sandbox.ErrTrap},
		{"grow refused, then trap", startModule(append(grow, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x00, 0x0b)...), sandbox.ErrMemory},
		{"grow refused, survived", startModule(append(grow, 0x41, 0x7f, 0x47, 0x04, 0x40, 0x00, 0x0b)...), nil},                             // traps unless refused
		{"grow to the limit", startModule(0x41, 0xff, 0x07, 0x40, 0, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x00, 0x0b), nil},                        // 1+1023 pages: 64 MiB
		{"grow a page past the limit", startModule(0x41, 0x80, 0x08, 0x40, 0, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x00, 0x0b), sandbox.ErrMemory}, // 1+1024 pages
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := r.Compile(ctx, tc.wasm)
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Run(ctx, sandbox.Task{Module: id})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if out == nil || len(out.Stdout) != 0 {
				t.Fatalf("output %+v", out)
			}
			t.Log(err)
		})
	}
}

func TestBadTask(t *testing.T) {
	r := shared(t)
	id := compile(t, r, "exit")
	for _, task := range []sandbox.Task{
		{Module: id, Args: []string{"0", "a\x00b"}},
		{Module: id, Args: []string{"0", ""}, Env: map[string]string{"A=B": "c"}},
		{Module: id, Args: []string{"0", ""}, Env: map[string]string{"": "c"}},
		{Module: id, Args: []string{"0", ""}, Env: map[string]string{"A": "\x00"}},
	} {
		if _, err := r.Run(context.Background(), task); !errors.Is(err, sandbox.ErrBadTask) {
			t.Errorf("%q %q: got %v, want ErrBadTask", task.Args, task.Env, err)
		}
	}
}

func TestClosed(t *testing.T) {
	r := newRuntime(t, sandbox.Config{})
	id := compile(t, r, "exit")
	r.Close(context.Background())
	if _, err := r.Run(context.Background(), sandbox.Task{Module: id}); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, err := r.Compile(context.Background(), wasmBytes["exit"]); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("Compile after Close: %v", err)
	}
}

// TestCloseWhileCompiling: a Close during compilations waits for them or
// makes them fail with ErrClosed; wazero's compiler never runs on a closed
// runtime (it panicked: "assignment to entry in nil map").
func TestCloseWhileCompiling(t *testing.T) {
	for round := range 8 {
		r, err := sandbox.New(context.Background(), sandbox.Config{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			// Another module each: a custom section changes the ID.
			wasm := append(append([]byte(nil), wasmBytes["wordcount"]...), 0x00, 0x04, 0x02, 'x', byte('a'+i), byte(round))
			wg.Go(func() {
				if _, err := r.Compile(context.Background(), wasm); err != nil && !errors.Is(err, sandbox.ErrClosed) {
					t.Error(err)
				}
			})
		}
		r.Close(context.Background())
		wg.Wait()
	}
}

// Concurrent Compiles of one module compile it once.
func TestCompileConcurrent(t *testing.T) {
	r := newRuntime(t, sandbox.Config{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := r.Compile(context.Background(), wasmBytes["exit"]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := sandbox.Compiles(r); n != 1 {
		t.Fatalf("compiled %d times", n)
	}
}

// gateReader closes started at its first Read and then waits for proceed
// before reading r: the test knows the module is running.
type gateReader struct {
	once             sync.Once
	started, proceed chan struct{}
	r                *bytes.Reader
}

func newGate(data []byte) *gateReader {
	return &gateReader{started: make(chan struct{}), proceed: make(chan struct{}), r: bytes.NewReader(data)}
}

func (g *gateReader) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.started); <-g.proceed })
	return g.r.Read(p)
}

// A module evicted while it runs keeps running to its end.
func TestEvictWhileRunning(t *testing.T) {
	r := newRuntime(t, sandbox.Config{MaxModules: 1})
	id := compile(t, r, "wordcount")
	text := []byte("b a b\n")
	gate := newGate(text)
	done := make(chan error)
	var out *sandbox.Output
	go func() {
		var err error
		out, err = r.Run(context.Background(), sandbox.Task{Module: id, Args: []string{"map"}, Stdin: gate})
		done <- err
	}()
	<-gate.started
	compile(t, r, "exit") // evicts wordcount
	if r.Has(id) {
		t.Fatal("wordcount was not evicted")
	}
	close(gate.proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if string(out.Stdout) != "a\t1\nb\t2\n" {
		t.Fatalf("stdout %q", out.Stdout)
	}
}

// Closing the Runtime stops its runs with ErrClosed.
func TestCloseWhileRunning(t *testing.T) {
	r := newRuntime(t, sandbox.Config{})
	id := compile(t, r, "wordcount")
	gate := newGate(bytes.Repeat([]byte("word "), 1<<20))
	done := make(chan error)
	go func() {
		_, err := r.Run(context.Background(), sandbox.Task{Module: id, Args: []string{"map"}, Stdin: gate})
		done <- err
	}()
	<-gate.started
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(gate.proceed)
	if err := <-done; !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("run during Close: got %v, want ErrClosed", err)
	}
}
