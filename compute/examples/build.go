package examples

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

var names = []string{"grep", "linecount", "sha256sum", "wordcount"}

// Names returns the names of the example jobs, sorted.
func Names() []string { return slices.Clone(names) }

// Build compiles the example job name to a WebAssembly module
// (GOOS=wasip1 GOARCH=wasm, -trimpath, CGO_ENABLED=0) in outDir and
// returns its path, outDir/NAME.wasm. A build already in outDir from the
// same sources and toolchain is reused. It needs the murmur source tree
// and a go toolchain on PATH.
func Build(ctx context.Context, name, outDir string) (string, error) {
	return build(ctx, name, outDir, "wasip1", "wasm", ".wasm")
}

// BuildNative is Build for the host (the toolchain's default GOOS and
// GOARCH); the program is outDir/NAME.native.
func BuildNative(ctx context.Context, name, outDir string) (string, error) {
	return build(ctx, name, outDir, "", "", ".native")
}

func build(ctx context.Context, name, outDir, goos, goarch, ext string) (string, error) {
	if !slices.Contains(names, name) {
		return "", fmt.Errorf("examples: no example %q (have %s)", name, strings.Join(names, ", "))
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("examples: building %s needs a go toolchain on PATH: %w", name, err)
	}
	root, err := moduleRoot(ctx, goBin)
	if err != nil {
		return "", fmt.Errorf("examples: building %s: %w", name, err)
	}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if goos != "" {
		env = append(env, "GOOS="+goos, "GOARCH="+goarch)
	}
	stamp, err := sourceHash(ctx, goBin, root, name, env)
	if err != nil {
		return "", fmt.Errorf("examples: building %s: %w", name, err)
	}
	out := filepath.Join(outDir, name+ext)
	if old, err := os.ReadFile(out + ".stamp"); err == nil && string(old) == stamp {
		if _, err := os.Stat(out); err == nil {
			return out, nil
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("examples: building %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(outDir, name+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("examples: building %s: %w", name, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", tmp.Name(), "./compute/examples/"+name)
	cmd.Dir = root
	cmd.Env = env
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("examples: go build %s: %w\n%s", name, err, bytes.TrimSpace(msg))
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("examples: building %s: %w", name, err)
	}
	if err := os.WriteFile(out+".stamp", []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("examples: building %s: %w", name, err)
	}
	return out, nil
}

// moduleRoot finds the murmur module's root: from this file's location
// when the sources are there, else from the go command's view of the
// current directory.
func moduleRoot(ctx context.Context, goBin string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return filepath.Clean(root), nil
		}
	}
	msg, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(msg))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot find the murmur source tree (run from inside it)")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "compute", "examples")); err != nil {
		return "", fmt.Errorf("%s is not the murmur source tree", root)
	}
	return root, nil
}

// sourceHash names a build: the toolchain, the target and the job's
// sources (the jobs use only the standard library).
func sourceHash(ctx context.Context, goBin, root, name string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, "env", "GOVERSION", "GOOS", "GOARCH")
	cmd.Dir = root
	cmd.Env = env
	ver, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	h := sha256.New()
	h.Write(ver)
	dir := filepath.Join(root, "compute", "examples", name)
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no Go sources in %s", dir)
	}
	for _, f := range files { // Glob sorts
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
