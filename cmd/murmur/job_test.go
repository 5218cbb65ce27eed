package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
}
