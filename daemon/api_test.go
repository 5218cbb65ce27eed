package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/node"
)

// serve starts a three-node local cloud and its first node's API.
func serve(t *testing.T) (*client.Client, *node.Local) {
	c, l, _ := serveWith(t)
	return c, l
}

// serveWith is serve, also returning the server.
func serveWith(t *testing.T) (*client.Client, *node.Local, *daemon.Server) {
	t.Helper()
	return serveOpts(t, nil)
}

// serveOpts is serveWith, with setup called on the server before it serves.
func serveOpts(t *testing.T, setup func(*daemon.Server)) (*client.Client, *node.Local, *daemon.Server) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: dir, Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := daemon.NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(srv)
	}
	sock := filepath.Join(dir, "murmur.sock")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, sock) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	c := client.New(sock)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := c.Status(context.Background()); err == nil {
			return c, l, srv
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPI(t *testing.T) {
	c, l := serve(t)
	ctx := context.Background()
	data := make([]byte, 5<<20+17)
	rand.Read(data)
	e, err := c.Put(ctx, "photo.jpg", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if e.Size != int64(len(data)) || e.Name != "photo.jpg" || len(e.Manifest) != 0 {
		t.Fatalf("put answered %+v", e)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("list = %v, %v", list, err)
	}
	var got bytes.Buffer
	n, err := c.Get(ctx, e.ID, &got, nil)
	if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("get: %d bytes, %v", n, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Peers != 2 || st.Files != 1 || st.ID != l.Nodes[0].ID().String() {
		t.Fatalf("status = %+v, %v", st, err)
	}
	peers, err := c.Peers(ctx)
	if err != nil || len(peers) != 2 {
		t.Fatalf("peers = %v, %v", peers, err)
	}
	if _, err := c.Get(ctx, "0123", &got, nil); !errors.Is(err, client.ErrNoFile) {
		t.Fatalf("get of an unknown file: %v", err)
	}
}

// TestLostDriveKeyIsNotReplaced: a node whose drive key is gone but whose
// catalog lists files sealed with it refuses to start a new key.
func TestLostDriveKeyIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	l, err := node.StartLocal(context.Background(), node.LocalConfig{Dir: dir, Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.WriteFile(filepath.Join(dir, "catalog.json"), []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.NewServer(l.Nodes[0], dir, nil); err == nil || !strings.Contains(err.Error(), "drive key") {
		t.Fatalf("NewServer without its drive key: %v", err)
	}
}

func used(l *node.Local) int64 {
	var n int64
	for _, nd := range l.Nodes {
		n += nd.Store().Used()
	}
	return n
}

// TestRemoveReleasesShards: the daemon renews the leases of its files'
// shards; removing a file releases its shards, and only its.
func TestRemoveReleasesShards(t *testing.T) {
	// The catalog's copy in the cloud has shards too: counted here are the
	// files' alone.
	c, l, srv := serveOpts(t, daemon.NoCatalogSync)
	ctx := context.Background()
	var ids []string
	var files [][]byte
	for _, size := range []int{3 << 20, 2<<20 + 5} {
		data := make([]byte, size)
		rand.Read(data)
		e, err := c.Put(ctx, "f", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		ids, files = append(ids, e.ID), append(files, data)
	}
	st, err := c.RenewLeases(ctx)
	if err != nil || st.Shards == 0 || st.Renewed != st.Shards || st.Missing+st.Failed != 0 || st.Error != "" {
		t.Fatalf("renew: %+v, %v", st, err)
	}
	// A file whose manifest cannot be opened does not stop the others'
	// renewal, and the status says which.
	daemon.AddEntry(srv, client.Entry{ID: strings.Repeat("ab", 32), Name: "damaged", Manifest: []byte("not a sealed manifest")})
	bad, err := c.RenewLeases(ctx)
	if err != nil || bad.Renewed != st.Renewed || !strings.Contains(bad.Error, strings.Repeat("ab", 32)) {
		t.Fatalf("renew beside a damaged manifest: %+v, %v", bad, err)
	}
	if _, err := c.Remove(ctx, strings.Repeat("ab", 32)); err != nil {
		t.Fatalf("remove the damaged entry: %v", err)
	}
	if s, err := c.Status(ctx); err != nil || s.Leases.Renewed != st.Renewed || s.Leases.Last.IsZero() {
		t.Fatalf("status after renewal: %+v, %v", s, err)
	}
	before := used(l)
	rm, err := c.Remove(ctx, ids[0])
	if err != nil || rm.Released == 0 || rm.Failed != 0 {
		t.Fatalf("remove: %+v, %v", rm, err)
	}
	if after := used(l); after >= before || before-after < int64(len(files[0])) {
		t.Fatalf("removing a %d-byte file freed %d bytes of shards", len(files[0]), before-after)
	}
	if _, err := c.Get(ctx, ids[0], io.Discard, nil); !errors.Is(err, client.ErrNoFile) {
		t.Fatalf("get of a removed file: %v", err)
	}
	if _, err := c.Remove(ctx, ids[0]); !errors.Is(err, client.ErrNoFile) {
		t.Fatalf("second remove: %v", err)
	}
	var got bytes.Buffer
	if _, err := c.Get(ctx, ids[1], &got, nil); err != nil || !bytes.Equal(got.Bytes(), files[1]) {
		t.Fatalf("the other file after a remove: %v", err)
	}
	st2, err := c.RenewLeases(ctx)
	if err != nil || st2.Shards != st.Shards-rm.Released || st2.Renewed != st2.Shards {
		t.Fatalf("renew after remove: %+v (before %+v, released %d), %v", st2, st, rm.Released, err)
	}
}

// TestRefusedPutLeavesNothing: a 30 MiB file refused part-way (the nodes
// run out of quota after some of its stripes are stored) gives back every
// shard it stored, and a file stored before keeps all of its own.
func TestRefusedPutLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: dir, Nodes: 3, Capacity: 12 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := daemon.NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	daemon.NoCatalogSync(srv) // its shards are not the put's
	sock := filepath.Join(dir, "murmur.sock")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, sock) }()
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
	small := make([]byte, 1<<20)
	rand.Read(small)
	if _, err := c.Put(ctx, "small", bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Audits.Stripes == 0 || st.Audits.Targets == 0 {
		t.Fatalf("status after a put: audits %+v, %v", st.Audits, err)
	}
	peers, err := c.Peers(ctx)
	if err != nil || len(peers) != 2 || peers[0].Evidence == 0 {
		t.Fatalf("peers: %+v, %v", peers, err)
	}
	before := used(l)
	big := make([]byte, 30<<20)
	rand.Read(big)
	if _, err := c.Put(ctx, "big", bytes.NewReader(big)); err == nil {
		t.Fatal("a 30 MiB file fit in 36 MiB of quota with its parity")
	}
	if after := used(l); after != before {
		t.Fatalf("the refused put left %d bytes of shards (%d before it, %d after)", after-before, before, after)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("files %v, %v", list, err)
	}
	var got bytes.Buffer
	if _, err := c.Get(ctx, list[0].ID, &got, nil); err != nil || !bytes.Equal(got.Bytes(), small) {
		t.Fatalf("the file stored before: %v", err)
	}
}
