package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
)

var churnLong = flag.Bool("long", false, "run TestChurnSoak's long form: more nodes, files and kills")

// churnPlan sizes one churn soak.
type churnPlan struct {
	nodes, files int
	early        int // nodes up when the files are put: their count sets k+m
	// Every third file is small, 64 KiB to 576 KiB: one data shard of its
	// stripe holds it all, the others are empty. The rest are size to
	// 1.5*size bytes: whole stripes, at 1 MiB packs, when size is k MiB.
	size      int
	returns   int // nodes SIGKILLed that come back within the grace
	extraGone int // nodes gone for good beyond the m+1 the issue asks for
	grace     time.Duration
	check     time.Duration
}

// TestChurnSoak runs a cloud of real `murmur node` processes, puts files
// through one of them, stops that owner for good, and then SIGKILLs nodes
// one at a time, in an order drawn from a logged seed (MURMUR_CHURN_SEED
// replays the files, the schedule and the draws; which nodes hold what is
// the nodes' own placement, so a draw may pick another node): some come back on their folder within the grace and must
// cause no repair; the others never come back, and before the next
// departure the survivors must have rebuilt exactly the shards each held,
// until more than m nodes are gone for good. Every file then reads back
// byte-identical through a surviving node that wrote none of them, with
// the owner's drive key and sealed manifests (what a second device of the
// owner's would carry). It logs the repair bytes over the lost bytes.
//
// Short form in `make test`; the long form is
// go test -run TestChurnSoak -long -timeout 30m ./cmd/murmur/
func TestChurnSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a cloud of processes: not in -short")
	}
	plan := churnPlan{nodes: 10, early: 6, files: 6, size: 4 << 20, returns: 2, grace: 6 * time.Second, check: 250 * time.Millisecond}
	if *churnLong {
		plan = churnPlan{nodes: 16, early: 9, files: 24, size: 6 << 20, returns: 6, extraGone: 1, grace: 8 * time.Second, check: 250 * time.Millisecond}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MURMUR_CHURN_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("MURMUR_CHURN_SEED=%q: %v", s, err)
		}
	}
	t.Logf("churn seed %d (MURMUR_CHURN_SEED=%d replays the files and the schedule); %+v", seed, seed, plan)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := newChurnCloud(t, plan)
	ctx := context.Background()
	start := time.Now()

	// The owner is node 1 (node 0 made the invite everyone joined by).
	const owner = 1
	var st *client.Status
	c.waitFor("the owner's code and the cloud's size", 60*time.Second, func() (bool, string) {
		var err error
		st, err = c.api(owner).Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		ok := st.Code != nil && st.Gossip.Size >= float64(plan.early)*0.9 && st.Peers >= plan.early-1
		return ok, fmt.Sprintf("code %+v, size %.1f, peers %d", st.Code, st.Gossip.Size, st.Peers)
	})
	k, m := st.Code.K, st.Code.M
	gone := m + 1 + plan.extraGone // the owner among them
	if left := plan.nodes - gone; left < k+m {
		t.Fatalf("code k=%d m=%d on %d nodes: after %d departures %d are left, fewer than the k+m a full repair places on", k, m, plan.nodes, gone, left)
	}
	t.Logf("code k=%d m=%d; %d nodes will go for good (the owner first), %d will come back", k, m, gone, plan.returns)

	files := map[string][]byte{}
	for i := range plan.files {
		n := plan.size + rng.IntN(plan.size/2)
		if i%3 == 2 {
			n = 64<<10 + rng.IntN(512<<10)
		}
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		e, err := c.api(owner).Put(ctx, fmt.Sprint("file", i), bytes.NewReader(data))
		if err != nil {
			t.Fatalf("put file %d: %v", i, err)
		}
		files[e.ID] = data
	}
	keys, manifests := c.ownerFiles(owner)
	shards := 0
	for _, man := range manifests {
		for _, d := range man.Stripes {
			if d.K != k || d.M != m {
				t.Fatalf("a stripe with k=%d m=%d, not the owner's k=%d m=%d", d.K, d.M, k, m)
			}
			for j := range d.Shards {
				if d.Stored(j) {
					shards++
				}
			}
		}
	}
	t.Logf("%d files put through node %d: %d shards in all", len(files), owner, shards)
	c.waitSettled(shards, "the puts")
	// The rest join: room to rebuild on, beside the stripes' holders.
	c.startRest()
	c.waitFor("the cloud's members to know each other", 60*time.Second, func() (bool, string) {
		var why []string
		for _, i := range c.alive() {
			st, err := c.api(i).Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			if st.Peers < plan.nodes-1 {
				why = append(why, fmt.Sprintf("node %d has %d peers", i, st.Peers))
			}
		}
		return len(why) == 0, strings.Join(why, ", ")
	})

	// The schedule: the owner goes first, then the departures for good
	// and the returns in a random order.
	var events []bool // true: for good
	for range gone - 1 {
		events = append(events, true)
	}
	for range plan.returns {
		events = append(events, false)
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	events = append([]bool{true}, events...)

	var lostBytes, repairIn, repairOut int64
	var lostShards, rebuilt int
	for i, forGood := range events {
		victim := owner
		if i > 0 {
			victim = c.pickHolder(rng, owner)
		}
		before := c.sums(victim)
		vs, err := c.api(victim).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		outage := time.Now()
		if victim == owner {
			c.stop(victim)
		} else {
			c.down[victim] = true
			c.procs[victim].kill()
		}
		if !forGood {
			// Back on its folder well within the grace, once a check has
			// seen it down (or a sixth of the grace has passed): a loaded
			// machine may take seconds to start it.
			c.waitForSoft(plan.grace/6, func() bool { return c.sums(-1).down > before.down })
			c.restart(victim)
			back := time.Since(outage)
			if back >= plan.grace {
				t.Fatalf("node %d took %v to come back, past its grace %v: the machine is too loaded for this soak", victim, back, plan.grace)
			}
			// No repair may follow, however long the survivors look: past
			// the outage's grace and a few checks more.
			c.waitFor("the survivors to see node back", 30*time.Second, func() (bool, string) {
				s := c.sums(-1)
				return s.down <= before.down && time.Since(outage) > plan.grace+4*plan.check, fmt.Sprintf("down %d (before %d)", s.down, before.down)
			})
			after := c.sums(-1)
			t.Logf("%v: node %d SIGKILLed, back after %v: repairs done %d→%d, rebuilt %d→%d", time.Since(start).Round(time.Millisecond), victim, back.Round(time.Millisecond), before.done, after.done, before.rebuilt, after.rebuilt)
			if after.done != before.done || after.rebuilt != before.rebuilt || after.running != 0 || after.backlog != 0 {
				t.Fatalf("node %d came back within its grace, yet repairs ran: %+v before, %+v after", victim, before, after)
			}
			continue
		}
		c.gone[victim] = true
		after := c.waitSettled(shards, fmt.Sprintf("node %d's departure", victim))
		n := after.rebuilt - before.rebuilt
		t.Logf("%v: node %d gone for good (%d shards, %d bytes): %d rebuilt, %d bytes fetched, %d stored; %d repairs failed, %d aborted", time.Since(start).Round(time.Millisecond), victim, vs.Audits.Stripes, vs.StoredBytes, n, after.in-before.in, after.out-before.out, after.failed-before.failed, after.aborted-before.aborted)
		if n != vs.Audits.Stripes {
			t.Errorf("node %d held %d shards; the survivors rebuilt %d", victim, vs.Audits.Stripes, n)
		}
		lostShards += vs.Audits.Stripes
		lostBytes += vs.StoredBytes
		rebuilt += n
		repairIn += after.in - before.in
		repairOut += after.out - before.out
	}

	// Every file, through a survivor that wrote none of them.
	reader := c.alive()[0]
	for _, j := range c.alive() {
		if j != owner {
			reader = j
			break
		}
	}
	cfg := pipeline.Config{Keys: keys}
	for id, want := range files {
		r, err := pipeline.NewReader(ctx, cfg, c.api(reader).Drive(), manifests[id])
		if err != nil {
			t.Fatalf("file %s through node %d: %v", id, reader, err)
		}
		var got bytes.Buffer
		if _, err := r.WriteTo(&got); err != nil {
			t.Fatalf("file %s through node %d: %v", id, reader, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("file %s through node %d: %d bytes, not the %d put", id, reader, got.Len(), len(want))
		}
	}
	t.Logf("%v: all %d files read back byte-identical through node %d, with %d of %d nodes gone for good (m=%d)", time.Since(start).Round(time.Millisecond), len(files), reader, len(c.gone), plan.nodes, m)
	t.Logf("lost %d shards, %d bytes; rebuilt %d shards, none twice; repair bytes fetched/lost %.2f, stored/lost %.2f (k=%d)",
		lostShards, lostBytes, rebuilt, float64(repairIn)/float64(max(lostBytes, 1)), float64(repairOut)/float64(max(lostBytes, 1)), k)
}

// churnCloud is the soak's cloud of node processes.
type churnCloud struct {
	t      *testing.T
	plan   churnPlan
	dirs   []string
	args   []string
	invite string
	procs  []*nodeProcess
	gone   map[int]bool
	down   map[int]bool // SIGKILLed and not restarted yet
}

// newChurnCloud starts plan.nodes node processes, each on a loopback port
// of its own that it keeps when restarted, so that the others' checks of
// it succeed again as soon as it is back.
func newChurnCloud(t *testing.T, plan churnPlan) *churnCloud {
	t.Helper()
	base := t.TempDir()
	c := &churnCloud{t: t, plan: plan, gone: map[int]bool{}, down: map[int]bool{}}
	for i := range plan.nodes {
		d := filepath.Join(base, fmt.Sprint("n", i))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, err := node.Init(d, node.Setup{Listen: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}}); err != nil {
			t.Fatal(err)
		}
		c.dirs = append(c.dirs, d)
	}
	secret, err := node.CreateCloud(c.dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	c.args = []string{"--gossip-period", "200ms", "--repair-rate", "0",
		"--repair-check-period", plan.check.String(), "--repair-grace", plan.grace.String(), "--repair-claim-ttl", "4s"}
	c.procs = make([]*nodeProcess, plan.nodes)
	c.procs[0] = startNode(t, c.dirs[0], c.args...)
	a, _ := peer.AddrInfoToP2pAddrs(&c.procs[0].info)
	c.invite = node.Invite{Secret: secret, Addrs: a}.String()
	for i := 1; i < plan.early; i++ {
		c.procs[i] = startNode(t, c.dirs[i], append(slices.Clone(c.args), "--join", c.invite)...)
	}
	for i := plan.early; i < plan.nodes; i++ {
		c.down[i] = true
	}
	return c
}

// pickHolder draws a node alive, not skip, among those holding shards
// (any, if none does).
func (c *churnCloud) pickHolder(rng *rand.Rand, skip int) int {
	var all, holders []int
	for _, i := range c.alive() {
		if i == skip {
			continue
		}
		st, err := c.api(i).Status(context.Background())
		if err != nil {
			c.t.Fatalf("status of node %d: %v", i, err)
		}
		all = append(all, i)
		if st.Audits.Stripes > 0 {
			holders = append(holders, i)
		}
	}
	if len(holders) == 0 {
		holders = all
	}
	return holders[rng.IntN(len(holders))]
}

// startRest starts the nodes not started yet.
func (c *churnCloud) startRest() {
	for i := c.plan.early; i < c.plan.nodes; i++ {
		c.procs[i] = startNode(c.t, c.dirs[i], append(slices.Clone(c.args), "--join", c.invite)...)
		delete(c.down, i)
	}
}

func (c *churnCloud) api(i int) *client.Client { return client.New(cli.SocketPath(c.dirs[i])) }

func (c *churnCloud) alive() []int {
	var out []int
	for i := range c.dirs {
		if !c.gone[i] && !c.down[i] {
			out = append(out, i)
		}
	}
	return out
}

// stop stops node i with an interrupt, as Ctrl-C would.
func (c *churnCloud) stop(i int) {
	p := c.procs[i]
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Logf("node %d stopped: %v", i, err)
		}
	case <-time.After(20 * time.Second):
		c.t.Fatalf("node %d did not stop on an interrupt", i)
	}
}

func (c *churnCloud) restart(i int) {
	c.procs[i] = startNode(c.t, c.dirs[i], c.args...)
	delete(c.down, i)
}

// churnSums adds up the live nodes' repair counts.
type churnSums struct {
	held, done, rebuilt, running, backlog, down, unwell, belowK int
	failed, aborted                                             int
	in, out                                                     int64
}

// sums adds up the repair status of the nodes alive, but for skip.
func (c *churnCloud) sums(skip int) churnSums {
	var s churnSums
	for _, i := range c.alive() {
		if i == skip {
			continue
		}
		st, err := c.api(i).Status(context.Background())
		if err != nil {
			c.t.Fatalf("status of node %d: %v", i, err)
		}
		r := st.Repairs
		s.held += st.Audits.Stripes
		s.done += r.Done
		s.rebuilt += r.Rebuilt
		s.failed += r.Failed
		s.aborted += r.Aborted
		s.running += r.Running
		s.backlog += r.Backlog
		s.down += r.Down
		s.belowK += r.BelowK
		for _, h := range r.Health[min(1, len(r.Health)):] {
			s.unwell += h
		}
		s.in += r.BytesIn
		s.out += r.BytesOut
	}
	return s
}

// waitSettled waits until the nodes alive hold all the shards again, every
// stripe whole and no repair running or waiting.
func (c *churnCloud) waitSettled(shards int, what string) churnSums {
	var s churnSums
	c.waitFor("the cloud to settle after "+what, 60*time.Second+4*c.plan.grace, func() (bool, string) {
		s = c.sums(-1)
		ok := s.held == shards && s.unwell == 0 && s.belowK == 0 && s.running == 0 && s.backlog == 0
		return ok, fmt.Sprintf("%+v, want %d shards held", s, shards)
	})
	return s
}

// waitFor polls cond every 50 ms until it holds, failing the test after
// limit with cond's last word.
func (c *churnCloud) waitFor(what string, limit time.Duration, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %v for %s: %s", limit, what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForSoft polls cond until it holds or limit passes.
func (c *churnCloud) waitForSoft(limit time.Duration, cond func() bool) {
	for deadline := time.Now().Add(limit); !cond() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}

// catalogFile is the daemon's catalog.json (docs/format.md).
type catalogFile struct {
	Files []client.Entry `json:"files"`
}

// ownerFiles reads node i's drive key and catalog from its folder, as a
// second device of its owner's would carry them, and opens every
// manifest.
func (c *churnCloud) ownerFiles(i int) (*crypt.Keys, map[string]*pipeline.Manifest) {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dirs[i], "drive.key"))
	if err != nil {
		c.t.Fatal(err)
	}
	f := strings.Fields(string(b))
	var mk crypt.MasterKey
	if len(f) != 2 {
		c.t.Fatalf("drive key %q", b)
	}
	if _, err := hex.Decode(mk[:], []byte(f[0])); err != nil {
		c.t.Fatal(err)
	}
	d, err := crypt.ParseDriveID(f[1])
	if err != nil {
		c.t.Fatal(err)
	}
	keys := mk.Keys(d)
	// The catalog is a file in the cloud too, whose stripes the cloud
	// keeps like the others': wait until the daemon has published the
	// catalog as it is on disk (the published document's digest is the
	// file's), and count that document among the files.
	var cat catalogFile
	var sync struct {
		Value  []byte `json:"value"`
		Digest []byte `json:"digest"`
	}
	c.waitForSoft(30*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(c.dirs[i], "catalog.json"))
		if err != nil || json.Unmarshal(b, &cat) != nil {
			return false
		}
		sb, err := os.ReadFile(filepath.Join(c.dirs[i], "catalog-sync.json"))
		if err != nil || json.Unmarshal(sb, &sync) != nil {
			return false
		}
		sum := sha256.Sum256(b)
		return bytes.Equal(sum[:], sync.Digest)
	})
	entries := cat.Files
	if len(sync.Value) < 1+32 {
		c.t.Fatalf("node %d never published its catalog", i)
	}
	entries = append(entries, client.Entry{ID: hex.EncodeToString(sync.Value[1:33]), Manifest: sync.Value[33:]})
	out := map[string]*pipeline.Manifest{}
	for _, e := range entries {
		id, err := pipeline.ParseManifestID(e.ID)
		if err != nil {
			c.t.Fatal(err)
		}
		if out[e.ID], err = pipeline.OpenManifest(keys, id, e.Manifest); err != nil {
			c.t.Fatal(err)
		}
	}
	return keys, out
}
