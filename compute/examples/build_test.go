package examples_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/compute/examples"
)

func TestNames(t *testing.T) {
	names := examples.Names()
	if !slices.IsSorted(names) || !slices.Equal(names, []string{"grep", "linecount", "sha256sum", "wordcount"}) {
		t.Fatalf("Names() = %v", names)
	}
	for _, n := range names {
		if _, err := os.Stat(n + "/main.go"); err != nil {
			t.Errorf("example %s: %v", n, err)
		}
	}
}

func TestBuildReuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := examples.Build(ctx, "linecount", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || !strings.HasSuffix(p, ".wasm") || string(b[:4]) != "\x00asm" {
		t.Fatalf("Build wrote %s: not a wasm module (%v)", p, err)
	}
	before, _ := os.Stat(p)
	// The second build of the same sources reuses the first.
	p2, err := examples.Build(ctx, "linecount", dir)
	after, _ := os.Stat(p2)
	if err != nil || p2 != p || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("second Build: %s %v, rebuilt: %v", p2, err, !after.ModTime().Equal(before.ModTime()))
	}
}

func TestBuildErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := examples.Build(ctx, "nope", t.TempDir()); err == nil || !strings.Contains(err.Error(), `no example "nope"`) {
		t.Fatalf("unknown example: %v", err)
	}
	t.Setenv("PATH", "")
	if _, err := examples.Build(ctx, "grep", t.TempDir()); err == nil || !strings.Contains(err.Error(), "go toolchain") {
		t.Fatalf("without go on PATH: %v", err)
	}
}
