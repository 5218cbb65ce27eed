package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// TestRootsSurviveRestart stops a whole cloud and starts it again on its
// folders, as `murmur up` is after Ctrl-C: a drive's root published before
// is found from every node, though it was received long ago (a drive
// nobody mounted for a year), and a stale root put afterwards replaces it
// nowhere. Provider records stay out of the nodes' databases.
func TestRootsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := startLocal(t, ctx, dir)
	keys := driveKeys()
	r1, _ := node.NewRootRecord(keys, 1, []byte("root one"))
	r2, _ := node.NewRootRecord(keys, 2, []byte("root two"))
	if err := l.Nodes[0].PublishRoot(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if err := l.Nodes[1].PublishRoot(ctx, r2); err != nil {
		t.Fatal(err)
	}
	// A shard stored, so provider records are announced and held.
	id, data := storetest.Shard(1, 4096)
	if err := l.Nodes[0].Remote(l.Nodes[1].ID()).Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "no node holds a provider record of the shard", func() bool {
		for _, n := range l.Nodes {
			if len(node.ProvidersHeld(n, id)) > 0 {
				return true
			}
		}
		return false
	})
	for i, n := range l.Nodes {
		if got := storedRoots(t, n); got[node.RootKey(keys.PublicKey())] != 2 {
			t.Fatalf("node %d keeps roots %v, want seq 2", i, got)
		}
		// As if the root had been put 400 days ago.
		ageRecords(t, n, 400*24*time.Hour)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = startLocal(t, ctx, dir)
	for i, n := range l.Nodes {
		got, err := n.LookupRoot(ctx, keys.PublicKey())
		if err != nil || got.Seq != 2 || string(got.Value) != "root two" {
			t.Fatalf("node %d after the restart: %v, %v; want root two", i, got, err)
		}
	}
	if err := l.Nodes[2].PublishRoot(ctx, r1); !errors.Is(err, rootrec.ErrStale) {
		t.Fatalf("publishing the stale root after the restart: %v, want ErrStale", err)
	}
	// A member that never held the root puts the stale one straight into
	// the DHT: every node keeps the newer.
	fresh := newNode(t, l.Secret, 0)
	for _, n := range l.Nodes {
		if err := fresh.Connect(ctx, n.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	waitForRoutes(t, append([]*node.Node{fresh}, l.Nodes...))
	b1, _ := r1.MarshalBinary()
	if err := node.PutRecord(ctx, fresh, node.RootKey(keys.PublicKey()), b1); err != nil {
		t.Fatal(err)
	}
	for i, n := range l.Nodes {
		if got := storedRoots(t, n); got[node.RootKey(keys.PublicKey())] != 2 {
			t.Fatalf("node %d keeps roots %v after a stale put, want seq 2", i, got)
		}
	}
	for _, n := range []*node.Node{fresh, l.Nodes[3]} {
		if got, err := n.LookupRoot(ctx, keys.PublicKey()); err != nil || got.Seq != 2 {
			t.Fatalf("lookup after a stale put: %v, %v; want seq 2", got, err)
		}
	}
}

// startLocal starts a local cloud of four nodes in dir, as murmur up does,
// and waits for their routing tables.
func startLocal(t *testing.T, ctx context.Context, dir string) *node.Local {
	t.Helper()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: dir, Nodes: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	waitForRoutes(t, l.Nodes)
	return l
}

// storedRoots returns the seq of each root record n keeps in its database,
// by DHT key.
func storedRoots(t *testing.T, n *node.Node) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, rec := range storedRecords(t, n) {
		r, err := node.ParseRootRecord(rec.GetValue())
		if err != nil {
			t.Fatal(err)
		}
		out[string(rec.GetKey())] = r.Seq
	}
	return out
}

// storedRecords returns the records in n's database by datastore key. A
// record that is not a drive root (a provider record) fails the test.
func storedRecords(t *testing.T, n *node.Node) map[string]*recpb.Record {
	t.Helper()
	res, err := n.Store().Records().Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*recpb.Record{}
	for _, e := range es {
		if !strings.HasPrefix(e.Key, "/"+node.RootNamespace+"/") {
			t.Fatalf("node %s keeps a record under %q: only drive roots belong on disk", n.ID().ShortString(), e.Key)
		}
		rec := new(recpb.Record)
		if err := proto.Unmarshal(e.Value, rec); err != nil {
			t.Fatalf("record %q: %v", e.Key, err)
		}
		out[e.Key] = rec
	}
	return out
}

// ageRecords makes every record in n's database look received age ago.
func ageRecords(t *testing.T, n *node.Node, age time.Duration) {
	t.Helper()
	for key, rec := range storedRecords(t, n) {
		rec.TimeReceived = time.Now().Add(-age).UTC().Format(time.RFC3339Nano)
		b, err := proto.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Store().Records().Put(context.Background(), ds.RawKey(key), b); err != nil {
			t.Fatal(err)
		}
	}
}
