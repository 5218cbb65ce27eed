package compute_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/compute/examples"
	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

var (
	modOnce sync.Once
	mods    map[string][]byte
	modErr  error
)

// module returns an example job's wasm, built once per test binary.
func module(t testing.TB, name string) []byte {
	t.Helper()
	modOnce.Do(func() {
		dir, err := os.MkdirTemp("", "murmur-compute-test-")
		if err != nil {
			modErr = err
			return
		}
		mods = map[string][]byte{}
		for _, n := range examples.Names() {
			p, err := examples.Build(context.Background(), n, dir)
			if err != nil {
				modErr = err
				return
			}
			if mods[n], err = os.ReadFile(p); err != nil {
				modErr = err
				return
			}
		}
	})
	if modErr != nil {
		t.Fatal(modErr)
	}
	return mods[name]
}

// testCloud is a local cloud whose nodes run tasks, and an owner on its
// first node.
type testCloud struct {
	l       *node.Local
	workers []*compute.Worker
	stops   []func()
	owner   *compute.Owner
	env     *compute.NodeEnv
	cfg     pipeline.Config
	cloud   *node.Cloud
	rt      *sandbox.Runtime
}

type cloudOpts struct {
	nodes    int
	replicas int
	trust    int
	liar     int // index of a node whose outputs are wrong; -1 none
}

func newTestCloud(t *testing.T, o cloudOpts) *testCloud {
	t.Helper()
	ctx := context.Background()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: t.TempDir(), Nodes: o.nodes, ComputeSlots: 2,
		GossipPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCloud{l: l}
	t.Cleanup(func() {
		for _, s := range tc.stops {
			s()
		}
		l.Close()
	})
	for i, n := range l.Nodes {
		pl, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		c := n.Cloud(pl)
		var corrupt func(*compute.Result)
		if i == o.liar {
			corrupt = func(r *compute.Result) { r.Output = append(r.Output, "a lie\n"...) }
		}
		w, stop, err := compute.StartNode(ctx, n, c, nil, corrupt)
		if err != nil {
			t.Fatal(err)
		}
		tc.workers, tc.stops = append(tc.workers, w), append(tc.stops, stop)
		if i == 0 {
			tc.cloud = c
		}
	}
	tc.rt, err = sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.rt.Close(context.Background()) })
	tc.cfg = pipeline.Config{Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()),
		Chunking: chunk.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}, K: 4, M: 2}
	tc.env = compute.NewNodeEnv(l.Nodes[0], tc.cloud)
	tc.env.Dialer.Self = tc.workers[0]
	tc.owner, err = compute.NewOwner(compute.OwnerConfig{Env: tc.env, Keys: tc.cfg, Runtime: tc.rt,
		Verify: compute.VerifyConfig{Replicas: o.replicas, Trust: o.trust, Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	// Every node's slots known to the owner before a job starts.
	deadline := time.Now().Add(60 * time.Second)
	for len(l.Nodes[0].ComputePeers()) < o.nodes {
		if time.Now().After(deadline) {
			t.Fatalf("the owner knows %d compute peers of %d", len(l.Nodes[0].ComputePeers()), o.nodes)
		}
		waitGossip(l.Nodes[0])
	}
	return tc
}

// waitGossip returns after the node's next gossip cycle.
func waitGossip(n *node.Node) {
	c := n.GossipStatus().Cycles
	for n.GossipStatus().Cycles == c {
		time.Sleep(20 * time.Millisecond)
	}
}

// put stores files and returns them as a job's inputs.
func (tc *testCloud) put(t *testing.T, files map[string][]byte, names []string) []compute.Input {
	t.Helper()
	w, err := pipeline.NewWriter(tc.cfg, tc.cloud)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := w.Add(context.Background(), bytes.NewReader(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := w.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var in []compute.Input
	for i, m := range ms {
		in = append(in, compute.Input{Name: names[i], Manifest: m})
	}
	return in
}

// reference runs the module in one process over each whole file: map (or
// fold) per file, then reduce.
func reference(t *testing.T, rt *sandbox.Runtime, wasm []byte, spec compute.Spec, files map[string][]byte, names []string) []byte {
	t.Helper()
	ctx := context.Background()
	id, err := rt.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, n := range names {
		task := sandbox.Task{Module: id, Args: append([]string{"map"}, spec.Args...), Stdin: bytes.NewReader(files[n])}
		if spec.Fold {
			task.Args = append([]string{"fold"}, spec.Args...)
			task.Env = map[string]string{"MURMUR_FINAL": "1", "MURMUR_NAME": n}
		} else if len(files[n]) == 0 {
			continue
		}
		o, err := rt.Run(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Stdout...)
	}
	if !spec.Reduce {
		return out
	}
	o, err := rt.Run(ctx, sandbox.Task{Module: id, Args: append([]string{"reduce"}, spec.Args...), Stdin: bytes.NewReader(out)})
	if err != nil {
		t.Fatal(err)
	}
	return o.Stdout
}

// corpus returns seeded text files: long ones with long lines, a small
// one, an empty one, one with no line end at all.
func corpus(seed uint64, size int) (map[string][]byte, []string) {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("the quick brown fox jumps over a lazy dog murmur cloud shard stripe chunk peer grép ünïcode 数据")
	text := func(n int) []byte {
		var b []byte
		for len(b) < n {
			l := rng.IntN(12)
			if rng.IntN(50) == 0 {
				l = 2000 + rng.IntN(40000) // lines longer than chunks
			}
			for i := range l {
				if i > 0 {
					b = append(b, ' ')
				}
				b = append(b, words[rng.IntN(len(words))]...)
			}
			b = append(b, '\n')
		}
		return b
	}
	files := map[string][]byte{
		"big.txt":   text(size),
		"mid.txt":   text(size / 3),
		"small.txt": []byte("one line\nand a fox\nwithout an end"),
		"empty.txt": nil,
		"oneline":   bytes.Repeat([]byte("fox "), 100000),
	}
	return files, []string{"big.txt", "small.txt", "empty.txt", "mid.txt", "oneline"}
}

// TestCloudJobs runs, on one cloud of six nodes (as its subtests are
// named): the example jobs against one process, a sandbox's failures,
// two owners at once, and a node lost in the middle of a job.
func TestCloudJobs(t *testing.T) {
	tc := newTestCloud(t, cloudOpts{nodes: 6, replicas: 1, liar: -1})
	for _, c := range []struct {
		name string
		f    func(*testing.T, *testCloud)
	}{
		{"MatchOneProcess", jobsMatchOneProcess},
		{"Sandbox", jobSandbox},
		{"TwoOwners", twoOwners},
		{"NodeLost", nodeLostMidJob}, // last: it stops a node
	} {
		if !t.Run(c.name, func(t *testing.T) { c.f(t, tc) }) {
			return
		}
	}
}

// jobsMatchOneProcess: each example job over files stored in a cloud of
// six nodes gives exactly the output of the same module run over the
// whole files in one process, with most tasks run where their chunk lies.
func jobsMatchOneProcess(t *testing.T, tc *testCloud) {
	files, names := corpus(1, 6<<20)
	inputs := tc.put(t, files, names)
	for _, c := range []struct {
		name string
		spec compute.Spec
	}{
		{"wordcount", compute.Spec{Reduce: true}},
		{"linecount", compute.Spec{Reduce: true}},
		{"grep", compute.Spec{Args: []string{"fox.*dog|ünï"}}},
		{"sha256sum", compute.Spec{Fold: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			spec.Module = module(t, c.name)
			want := reference(t, tc.rt, spec.Module, spec, files, names)
			j, err := tc.owner.Start(spec, inputs)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, st := j.Output(), j.Status()
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from one process: %d bytes vs %d\n%.300s\n---\n%.300s", len(got), len(want), got, want)
			}
			if st.Tasks < 20 || float64(st.Local) < 0.9*float64(st.Tasks) {
				t.Fatalf("%d of %d tasks ran where their chunk lay", st.Local, st.Tasks)
			}
			t.Logf("%s: %d tasks, %d local, %d runs, network %d bytes for %d of input, %.2fs", c.name, st.Tasks, st.Local, st.Runs, st.Network, st.InputBytes, st.Seconds)
		})
	}
}

// buildTestModules builds the sandbox's test modules a job may misuse.
func buildTestModules(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+string(filepath.Separator),
		"./sandbox/testdata/loop", "./sandbox/testdata/escape", "./testdata/hog")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	m := map[string][]byte{}
	for _, n := range []string{"loop", "escape", "hog"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = b
	}
	return m
}

// jobSandbox: a module that loops forever, one that allocates past its
// memory limit and one that tries to open a file and a socket each fail
// their job with a clear error to its owner, and the nodes go on serving
// the next job.
func jobSandbox(t *testing.T, tc *testCloud) {
	files, names := corpus(2, 256<<10)
	inputs := tc.put(t, files, names)
	bad := buildTestModules(t)
	for _, c := range []struct {
		mod  string
		spec compute.Spec
		want string
	}{
		{"loop", compute.Spec{Deadline: 500 * time.Millisecond}, "deadline"},
		{"hog", compute.Spec{}, "memory limit"},
		{"escape", compute.Spec{Args: []string{"127.0.0.1:1"}}, "open failed"},
	} {
		spec := c.spec
		spec.Module = bad[c.mod]
		start := time.Now()
		j, err := tc.owner.Start(spec, inputs)
		if err != nil {
			t.Fatal(err)
		}
		err = j.Wait(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: the job ended with %v, want an error saying %q", c.mod, err, c.want)
		}
		t.Logf("%s (%v): %v", c.mod, time.Since(start).Round(time.Millisecond), err)
	}
	spec := compute.Spec{Module: module(t, "linecount"), Reduce: true}
	j, err := tc.owner.Start(spec, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(context.Background()); err != nil {
		t.Fatalf("the next job: %v", err)
	}
	if want := reference(t, tc.rt, spec.Module, spec, files, names); !bytes.Equal(j.Output(), want) {
		t.Fatalf("the next job: %q, want %q", j.Output(), want)
	}
}

// TestWrongOutputsOutvoted: a node that returns wrong outputs never has
// one accepted: it is outvoted, counted wrong and ranked down until it
// gets no more runs; and as the honest peers build a record, the runs
// per task fall.
func TestWrongOutputsOutvoted(t *testing.T) {
	const liar = 3
	tc := newTestCloud(t, cloudOpts{nodes: 6, replicas: 2, liar: liar})
	files, names := corpus(3, 3<<20)
	inputs := tc.put(t, files, names)
	spec := compute.Spec{Module: module(t, "wordcount"), Reduce: true}
	want := reference(t, tc.rt, spec.Module, spec, files, names)
	var overhead []float64
	for round := range 3 {
		j, err := tc.owner.Start(spec, inputs)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := j.Status()
		if !bytes.Equal(j.Output(), want) {
			t.Fatalf("round %d: a wrong output was accepted", round)
		}
		if round == 0 && st.Wrong == 0 {
			t.Fatalf("round %d: the liar was never outvoted (%+v)", round, st)
		}
		overhead = append(overhead, float64(st.Runs)/float64(st.Tasks))
		t.Logf("round %d: %d tasks, %d runs (%.2f a task), %d wrong, %d verified", round, st.Tasks, st.Runs, overhead[round], st.Wrong, st.Verified)
	}
	if overhead[2] >= overhead[0] {
		t.Fatalf("runs per task did not fall: %v", overhead)
	}
	liarID := tc.l.Nodes[liar].ID()
	var liarRel, honestMin float64 = -1, 2
	for _, p := range tc.l.Nodes[0].ComputePeers() {
		if p.ID == liarID {
			liarRel = p.Reliability
		} else if p.ID != tc.l.Nodes[0].ID() {
			honestMin = min(honestMin, p.Reliability)
		}
	}
	if liarRel < 0 || liarRel >= honestMin {
		t.Fatalf("the liar's reliability %.3f, the honest peers' lowest %.3f", liarRel, honestMin)
	}
	t.Logf("reliability: liar %.3f, honest peers at least %.3f", liarRel, honestMin)
}

// nodeLostMidJob: a node that vanishes while a job runs (its host and
// worker stop) has its runs re-issued and its chunks read from the rest
// of their stripes; the job's output is still exact.
func nodeLostMidJob(t *testing.T, tc *testCloud) {
	files, names := corpus(4, 6<<20)
	inputs := tc.put(t, files, names)
	spec := compute.Spec{Module: module(t, "wordcount"), Reduce: true}
	want := reference(t, tc.rt, spec.Module, spec, files, names)
	j, err := tc.owner.Start(spec, inputs)
	if err != nil {
		t.Fatal(err)
	}
	for j.Status().Done < 10 {
		select {
		case <-j.Done():
			t.Fatal("the job ended before the node could be stopped")
		case <-time.After(10 * time.Millisecond):
		}
	}
	tc.stops[4]()
	tc.stops[4] = func() {}
	tc.l.Nodes[4].Close()
	if err := j.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(j.Output(), want) {
		t.Fatal("the output differs from one process")
	}
	st := j.Status()
	t.Logf("%d tasks, %d local, %d runs, %.2fs", st.Tasks, st.Local, st.Runs, st.Seconds)
}

// twoOwners: jobs of two owners (two nodes, each with its own keys and
// files) at once share the compute peers and both complete with exact
// outputs; their times beside each alone are logged.
func twoOwners(t *testing.T, tc *testCloud) {
	// The second owner: node 1, its own keys, its own files.
	pl, err := placement.NewReliable(placement.ReliableConfig{Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	second := &testCloud{l: tc.l, workers: tc.workers, rt: tc.rt, cloud: tc.l.Nodes[1].Cloud(pl)}
	second.cfg = tc.cfg
	second.cfg.Keys = crypt.NewMasterKey().Keys(crypt.NewDriveID())
	second.env = compute.NewNodeEnv(tc.l.Nodes[1], second.cloud)
	second.env.Dialer.Self = tc.workers[1]
	if second.owner, err = compute.NewOwner(compute.OwnerConfig{Env: second.env, Keys: second.cfg, Runtime: tc.rt,
		Verify: compute.VerifyConfig{Replicas: 1}}); err != nil {
		t.Fatal(err)
	}
	filesA, names := corpus(5, 3<<20)
	filesB, _ := corpus(6, 3<<20)
	inA, inB := tc.put(t, filesA, names), second.put(t, filesB, names)
	spec := compute.Spec{Module: module(t, "wordcount"), Reduce: true}
	wantA := reference(t, tc.rt, spec.Module, spec, filesA, names)
	wantB := reference(t, tc.rt, spec.Module, spec, filesB, names)
	run := func(o *compute.Owner, in []compute.Input) *compute.Job {
		j, err := o.Start(spec, in)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	check := func(j *compute.Job, want []byte) float64 {
		if err := j.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(j.Output(), want) {
			t.Fatal("a job's output differs from one process")
		}
		return j.Status().Seconds
	}
	aloneA := check(run(tc.owner, inA), wantA)
	aloneB := check(run(second.owner, inB), wantB)
	ja, jb := run(tc.owner, inA), run(second.owner, inB)
	// While both run, neither starves: each has tasks done before the
	// other ends (the workers' fair share), each on its own slice.
	var sliceA, sliceB, bAtA, aAtB int
	for ended := false; !ended; {
		select {
		case <-ja.Done():
		case <-jb.Done():
		case <-time.After(20 * time.Millisecond):
		}
		sa, sb := ja.Status(), jb.Status()
		sliceA, sliceB = max(sliceA, sa.Slice), max(sliceB, sb.Slice)
		switch {
		case sa.State != compute.StateRunning:
			bAtA, aAtB, ended = sb.Done, sa.Tasks, true
		case sb.State != compute.StateRunning:
			bAtA, aAtB, ended = sb.Tasks, sa.Done, true
		}
	}
	togetherA, togetherB := check(ja, wantA), check(jb, wantB)
	t.Logf("owner A: %.2fs alone, %.2fs beside B; owner B: %.2fs alone, %.2fs beside A", aloneA, togetherA, aloneB, togetherB)
	t.Logf("slices: A up to %d peers, B up to %d; when the first ended, A had %d of %d tasks done, B %d of %d",
		sliceA, sliceB, aAtB, ja.Status().Tasks, bAtA, jb.Status().Tasks)
	if bAtA == 0 || aAtB == 0 {
		t.Fatalf("one job starved while the other ran: A %d, B %d tasks done", aAtB, bAtA)
	}
}
