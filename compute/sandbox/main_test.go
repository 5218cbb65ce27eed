package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/compute/examples"
	"github.com/murmur-cloud/murmur/compute/sandbox"
)

// The test modules (testdata/NAME) and the examples, built once per test
// binary into a temporary directory by TestMain.
var (
	testModules = []string{"escape", "exit", "flood", "grow", "loop", "world"}
	wasmDir     string
	wasmBytes   = map[string][]byte{} // by name; examples too
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wasmDir = dir
	err = buildAll(context.Background(), dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the test modules:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildAll(ctx context.Context, dir string) error {
	var wg sync.WaitGroup
	errs := make(chan error, 1+len(examples.Names()))
	wg.Go(func() {
		args := []string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}
		for _, n := range testModules {
			args = append(args, "./testdata/"+n)
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			errs <- fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	paths := make([]string, len(examples.Names()))
	for i, n := range examples.Names() {
		wg.Go(func() {
			p, err := examples.Build(ctx, n, dir)
			if err != nil {
				errs <- err
			}
			paths[i] = p
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for _, n := range testModules {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		wasmBytes[n] = b
	}
	for i, n := range examples.Names() {
		b, err := os.ReadFile(paths[i])
		if err != nil {
			return err
		}
		wasmBytes[n] = b
	}
	return nil
}

// newRuntime returns a Runtime for cfg, closed when the test ends.
func newRuntime(t testing.TB, cfg sandbox.Config) *sandbox.Runtime {
	t.Helper()
	r, err := sandbox.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// compile compiles the test module or example name in r.
func compile(t testing.TB, r *sandbox.Runtime, name string) sandbox.ModuleID {
	t.Helper()
	b, ok := wasmBytes[name]
	if !ok {
		t.Fatalf("no module %q", name)
	}
	id, err := r.Compile(context.Background(), b)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return id
}

var (
	sharedOnce sync.Once
	sharedRT   *sandbox.Runtime
)

// shared returns a Runtime with the default config shared by the tests of
// this binary, so each module is compiled once.
func shared(t testing.TB) *sandbox.Runtime {
	t.Helper()
	sharedOnce.Do(func() {
		r, err := sandbox.New(context.Background(), sandbox.Config{MaxModules: 64})
		if err != nil {
			t.Fatal(err)
		}
		sharedRT = r
	})
	return sharedRT
}
