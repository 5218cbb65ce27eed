package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// fakeClock is a clock a test moves, safe to read from the daemon's
// goroutines.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) step(d time.Duration) { c.ns.Add(int64(d)) }

// waitCycle waits until node n has run another gossip cycle since it had
// run cycles: the evidence has moved on.
func waitCycle(t *testing.T, n *node.Node, cycles int64) int64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c := n.GossipStatus().Cycles; c > cycles {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gossip cycle after %d in 10 s", cycles)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCodeDoesNotSwing puts files through the daemon of a new six-node
// cloud during its first minute, the daemon's clock driven by the test
// (one second per gossip cycle, so the evidence grows faster than that
// clock: gossip runs every 100 ms): every file gets the same code, ls
// shows it, and status says when hysteresis holds a cheaper one; past the
// hold the cheaper code is taken, and files get it.
func TestCodeDoesNotSwing(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: dir, Nodes: 6, GossipPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := daemon.NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	if err := srv.SetCodePolicy(daemon.CodePolicy{Selector: placement.CodeSelectorConfig{Now: clk.now}, Every: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "murmur.sock")
	done := make(chan error, 1)
	go func() { done <- srv.ServeReady(ctx, sock, nil) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	c := client.New(sock)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := c.Status(ctx); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	rng := rand.New(rand.NewPCG(14, 1))
	put := func(i int) *client.Entry {
		t.Helper()
		data := make([]byte, 64<<10+rng.IntN(64<<10))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		e, err := c.Put(ctx, fmt.Sprint("file", i), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	n := l.Nodes[0]
	var cycles int64
	codes := map[string]int{}
	plain := map[string]bool{}
	for sec := 0; sec < 60; sec++ {
		if sec%5 == 0 {
			e := put(sec)
			codes[e.Code()]++
		}
		if p, err := placement.ChooseCode(n.CodeParams(placement.DefaultTarget)); err == nil {
			plain[fmt.Sprintf("k%dm%d", p.K, p.M)] = true
		}
		cycles = waitCycle(t, n, cycles)
		clk.step(time.Second)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first minute (%d gossip cycles): codes %v; ChooseCode alone took %v; status: %s", cycles, codes, plain, st.Code.Why)
	if len(codes) != 1 || codes["-"] > 0 {
		t.Fatalf("the code swung in the first minute: %v", codes)
	}
	first := st.Code
	if st.CodeState == nil || !st.Code.Met || codes[fmt.Sprintf("k%dm%d", first.K, first.M)] != 12 {
		t.Fatalf("status: %+v, files %v", st.Code, codes)
	}

	// Past the hold, the cheaper code the evidence now allows is taken.
	held := false
	for start := clk.now(); ; {
		st, err = c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Code.K != first.K || st.Code.M != first.M {
			break
		}
		if st.CodeState.Held {
			held = true
			if !strings.Contains(st.Code.Why, "held by hysteresis") {
				t.Fatalf("held, but status does not say so: %s", st.Code.Why)
			}
		}
		if clk.now().Sub(start) > placement.DefaultCodeHold+time.Minute {
			t.Fatalf("still k=%d m=%d: %s", first.K, first.M, st.Code.Why)
		}
		cycles = waitCycle(t, n, cycles)
		clk.step(5 * time.Second)
	}
	t.Logf("then: %s", st.Code.Why)
	if !held || !st.Code.Met || st.Code.Overhead >= first.Overhead*0.9 || st.CodeState.Switches != 1 {
		t.Fatalf("the change: held %v, %+v", held, st.CodeState)
	}
	e := put(99)
	if e.K != st.Code.K || e.M != st.Code.M {
		t.Fatalf("a file put after the change: %s, status %+v", e.Code(), st.Code)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 13 {
		t.Fatalf("ls: %d files, %v", len(list), err)
	}
	for _, f := range list {
		if f.Code() == "-" {
			t.Fatalf("ls: %+v without its code", f)
		}
	}
}

// TestCatalogBeforeCodes: a catalog written before entries recorded their
// code still loads; its files show "-" as their code.
func TestCatalogBeforeCodes(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: dir, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := daemon.NewServer(l.Nodes[0], dir, nil); err != nil { // makes the drive key
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join("testdata", "catalog-before-codes.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The file's manifests sealed under this server's key, as they were
	// by the server that wrote it.
	keys, err := daemon.DriveKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]any
	if err := json.Unmarshal(old, &entries); err != nil {
		t.Fatal(err)
	}
	plain, err := (&pipeline.Manifest{}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		id, err := pipeline.ParseManifestID(e["id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		e["manifest"] = keys.Sealer(crypt.PurposeManifest).Seal(nil, id[:], plain)
	}
	if old, err = json.Marshal(entries); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "catalog.json"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := daemon.NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/files", nil))
	var list []client.Entry
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("list: %d %q: %v", rec.Code, rec.Body, err)
	}
	if len(list) != 2 || list[0].Code() != "-" || list[1].Code() != "k4m2" || list[0].Name != "old.txt" {
		t.Fatalf("list: %+v", list)
	}
}
