package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/compute/examples"
	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/node"
)

// TestJobAcrossProcesses: six `murmur node` processes offering compute
// slots; a word count over a stored file, one of the nodes SIGKILLed in
// the middle of the job: the job completes, its output that of the module
// run over the plain file in one process; murmur job run, list and status
// work on it, and a job that cannot run says why with a non-zero exit.
func TestJobAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	wasmPath, err := examples.Build(ctx, "wordcount", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	dirs, secret := initCloud(t, 6)
	args := []string{"--gossip-period", "100ms", "--compute-slots", "2"}
	procs := []*nodeProcess{startNode(t, dirs[0], args...)}
	a, _ := peer.AddrInfoToP2pAddrs(&procs[0].info)
	invite := node.Invite{Secret: secret, Addrs: a}.String()
	for _, d := range dirs[1:] {
		procs = append(procs, startNode(t, d, append(args, "--join", invite)...))
	}
	c := client.New(cli.SocketPath(dirs[0]))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ps, err := c.Peers(ctx)
		n := 0
		for _, p := range ps {
			if p.Slots > 0 {
				n++
			}
		}
		if err == nil && n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first node knows %d compute peers: %v", n, err)
		}
	}
	var text bytes.Buffer
	if err := benchText(&text, 24<<20); err != nil {
		t.Fatal(err)
	}
	plain := bytes.Clone(text.Bytes())
	e, err := c.Put(ctx, "words.txt", &text)
	if err != nil {
		t.Fatal(err)
	}

	// The reference: the module over the plain file, here.
	rt, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	id, _ := rt.Compile(ctx, wasm)
	m, err := rt.Run(ctx, sandbox.Task{Module: id, Args: []string{"map"}, Stdin: bytes.NewReader(plain), Limits: sandbox.Limits{Deadline: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := rt.Run(ctx, sandbox.Task{Module: id, Args: []string{"reduce"}, Stdin: bytes.NewReader(m.Stdout)})
	if err != nil {
		t.Fatal(err)
	}

	j, err := c.StartJob(ctx, client.JobRequest{Module: wasm, Inputs: []string{"words.txt"}, Reduce: true, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	for j.Done < 3 && !j.Finished() {
		time.Sleep(20 * time.Millisecond)
		if j, err = c.Job(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if j.Finished() {
		t.Fatalf("the job ended before a node could be killed: %+v", j)
	}
	procs[4].kill()
	t.Logf("killed node 4 with %d of %d tasks done", j.Done, j.Tasks)
	for !j.Finished() {
		time.Sleep(50 * time.Millisecond)
		if j, err = c.Job(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	if j.State != "done" {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	var got bytes.Buffer
	if _, err := c.JobOutput(ctx, j.ID, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Stdout) {
		t.Fatalf("the output (%d bytes) differs from one process (%d)", got.Len(), len(want.Stdout))
	}
	t.Logf("%d tasks, %d ran where their data lay, %d runs, %.1fs, %d bytes moved for %d of input", j.Tasks, j.Local, j.Runs, j.Seconds, j.Network, e.Size)

	// The commands: run writes the output, list and status show the job.
	outFile := filepath.Join(t.TempDir(), "counts")
	if out, err := run(t, "job", "run", "--dir", dirs[0], "--reduce", "--replicas", "1", "--out", outFile, wasmPath, e.ID); err != nil {
		t.Fatalf("job run: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(outFile); err != nil || !bytes.Equal(b, want.Stdout) {
		t.Fatalf("job run --out: %d bytes, %v", len(b), err)
	}
	if out, err := run(t, "job", "list", "--dir", dirs[0]); err != nil || !bytes.Contains([]byte(out), []byte(j.ID)) {
		t.Fatalf("job list: %q, %v", out, err)
	}
	if out, err := run(t, "job", "status", "--dir", dirs[0], j.ID); err != nil || !bytes.Contains([]byte(out), []byte("state     done")) {
		t.Fatalf("job status: %q, %v", out, err)
	}
	if _, err := run(t, "job", "run", "--dir", dirs[0], wasmPath, "no-such-file"); err == nil {
		t.Fatal("a job over a file that does not exist ran")
	}
	garbage := filepath.Join(t.TempDir(), "bad.wasm")
	os.WriteFile(garbage, []byte("not a module"), 0o644)
	if out, err := run(t, "job", "run", "--dir", dirs[0], garbage, e.ID); err == nil || !bytes.Contains([]byte(err.Error()+out), []byte("module")) {
		t.Fatalf("a bad module: %q, %v", out, err)
	}

	jobOverDrive(t, dirs[0], wasmPath, rt, id)
}

// jobOverDrive: a word count over a folder of a mounted drive, whose keys
// stay in `murmur job run --drive`, equals the module's runs over the
// plain files; the job of a `job run` SIGKILLed in its middle is
// cancelled, since nothing else can answer its keys.
func jobOverDrive(t *testing.T, dir, wasmPath string, rt *sandbox.Runtime, mod sandbox.ModuleID) {
	ctx := context.Background()
	pass := writeSecret(t, "a drive for jobs")
	if out, err := murmurCmd("drive", "create", "--dir", dir, "--name", "work", "--passphrase-file", pass).CombinedOutput(); err != nil {
		t.Fatalf("drive create: %v\n%s", err, out)
	}
	mnt := filepath.Join(t.TempDir(), "cloud")
	mp := startMount(t, mnt, "--dir", dir, "--passphrase-file", pass)
	var big bytes.Buffer
	benchText(&big, 6<<20)
	files := []struct {
		name string
		data []byte
	}{
		{"a.txt", big.Bytes()[:4<<20]},
		{"b/c.txt", big.Bytes()[4<<20:]},
		{"b/empty", nil},
		{"b/tail", []byte("words without\nan ending newline")},
	}
	for _, f := range files {
		p := filepath.Join(mnt, "texts", f.name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mp.stop(t) // uploads and commits everything
	var maps []byte
	for _, f := range files {
		r, err := rt.Run(ctx, sandbox.Task{Module: mod, Args: []string{"map"}, Stdin: bytes.NewReader(f.data), Limits: sandbox.Limits{Deadline: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		maps = append(maps, r.Stdout...)
	}
	want, err := rt.Run(ctx, sandbox.Task{Module: mod, Args: []string{"reduce"}, Stdin: bytes.NewReader(maps), Limits: sandbox.Limits{Deadline: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(t.TempDir(), "counts")
	jobArgs := []string{"job", "run", "--dir", dir, "--drive", "work", "--passphrase-file", pass, "--reduce", "--replicas", "1"}
	if out, err := run(t, append(jobArgs, "--out", outFile, wasmPath, "texts")...); err != nil {
		t.Fatalf("job run --drive: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(outFile); err != nil || !bytes.Equal(b, want.Stdout) {
		t.Fatalf("job run --drive: %d bytes, want %d: %v", len(b), len(want.Stdout), err)
	}
	if _, err := run(t, append(jobArgs, wasmPath, "texts/nope")...); err == nil || !strings.Contains(err.Error(), "no such file or folder") {
		t.Fatalf("a path not in the drive: %v", err)
	}
	if _, err := run(t, append(jobArgs, "--detach", wasmPath, "texts")...); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("--detach over a drive: %v", err)
	}

	// The client killed in the middle: its job is cancelled.
	c := client.New(cli.SocketPath(dir))
	before, _ := c.Jobs(ctx)
	cmd := murmurCmd(append(jobArgs[:len(jobArgs)-1], "3", wasmPath, "texts")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var j client.Job
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		js, _ := c.Jobs(ctx)
		if len(js) > len(before) {
			j = js[len(js)-1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the drive job never started")
		}
	}
	cmd.Process.Kill()
	killed := time.Now()
	cmd.Wait()
	for deadline := time.Now().Add(60 * time.Second); j.State == "running"; time.Sleep(50 * time.Millisecond) {
		got, err := c.Job(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		j = *got
		if time.Now().After(deadline) {
			t.Fatalf("the job of a killed client still runs: %+v", j)
		}
	}
	if j.State == "done" && j.Ended.Before(killed.Add(time.Second)) {
		t.Logf("the job ended before its client was killed (%d tasks)", j.Tasks)
	} else if j.State != "cancelled" {
		t.Fatalf("the job of a killed client: %s (%s)", j.State, j.Error)
	}
}
