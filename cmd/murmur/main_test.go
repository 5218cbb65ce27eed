package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
)

func TestExplain(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: bad flag", cli.ErrUsage), exitUsage},
		{fmt.Errorf("unlock: %w", crypt.ErrWrongPassphrase), exitAuth},
		{fmt.Errorf("chunk 3: %w", crypt.ErrAuth), exitAuth},
		{fmt.Errorf("stripe 2: %w", &erasure.TooFewShardsError{Found: 3, Need: 4}), exitData},
		{context.Canceled, exitStopped},
		// A read cut short reports the interruption, not missing shards.
		{errors.Join(context.Canceled, &erasure.TooFewShardsError{Found: 0, Need: 4}), exitStopped},
		{fmt.Errorf("open key file: %w", crypt.ErrKeyFile), exitAuth},
		{fmt.Errorf("status: %w at /x/murmur.sock: EOF", client.ErrUnreachable), exitNotRunning},
		{&fs.PathError{Op: "open", Path: "missing", Err: syscall.ENOENT}, exitNotFound},
		{&fs.PathError{Op: "write", Path: "out", Err: syscall.ENOSPC}, exitNoSpace},
		{errors.New("something else"), exitFailure},
	} {
		msg, code := explain(tt.err)
		if code != tt.code || !strings.Contains(msg, tt.err.Error()) {
			t.Errorf("explain(%v) = %q, %d; want code %d", tt.err, msg, code, tt.code)
		}
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := root().Execute(context.Background(), args, &out)
	return out.String(), err
}

func TestCommands(t *testing.T) {
	if _, err := run(t); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("no command: %v", err)
	}
	if _, err := run(t, "frobnicate"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("unknown command: %v", err)
	}
	if out, err := run(t, "help"); err != nil || !strings.Contains(out, "bench") {
		t.Fatalf("help: %q, %v", out, err)
	}
	if _, err := run(t, "bench", "pipeline", "--size", "lots"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("bad size: %v", err)
	}
	out, err := run(t, "bench", "pipeline", "--size", "8MiB", "--rounds", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]float64
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, k := range []string{"write_MBps", "read_MBps", "baseline_MBps", "write_ratio", "read_ratio"} {
		if res[k] <= 0 {
			t.Errorf("bench --json: %s = %v", k, res[k])
		}
	}
	if out, err := run(t, "bench", "pipeline", "--size", "4MiB", "--rounds", "1"); err != nil || !strings.Contains(out, "baseline") {
		t.Fatalf("bench: %q, %v", out, err)
	}
}

func TestSimCommand(t *testing.T) {
	out, err := run(t, "sim", "--scenario", "catastrophe", "--nodes", "1000", "--every", "20")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cycle   20", "FIGURE", "PUBLISHED", "size estimate of the next epoch", "1000 nodes × 61 cycles"} {
		if !strings.Contains(out, want) {
			t.Fatalf("sim output lacks %q:\n%s", want, out)
		}
	}
	csvPath := filepath.Join(t.TempDir(), "run.csv")
	out, err = run(t, "sim", "--scenario", "churn", "--nodes", "500", "--cycles", "100", "--join-rate", "3",
		"--session", "pareto:1.5:20", "--zones", "2", "--zone-fail", "30:1", "--csv", csvPath, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Figures []struct{ Name string } }
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Figures) == 0 {
		t.Fatalf("sim --json: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(csvPath); err != nil || strings.Count(string(b), "\n") != 100 {
		t.Fatalf("CSV of 100 cycles: %d lines, %v", strings.Count(string(b), "\n"), err)
	}
	for _, bad := range [][]string{
		{"sim", "--scenario", "nope"},
		{"sim", "--session", "weibull:2"},
		{"sim", "--crash", "10"},
		{"sim", "--nodes", "1"},
	} {
		if _, err := run(t, bad...); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
}
