package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node"
)

func driveKeys() *crypt.Keys {
	var mk crypt.MasterKey
	rand.Read(mk[:])
	return mk.Keys(crypt.NewDriveID())
}

func TestRootRecordValidator(t *testing.T) {
	keys, other := driveKeys(), driveKeys()
	v := node.RootValidator{}
	key := node.RootKey(keys.PublicKey())
	r1, _ := node.NewRootRecord(keys, 1, []byte("root one"))
	r2, _ := node.NewRootRecord(keys, 2, []byte("root two"))
	b1, _ := r1.MarshalBinary()
	b2, _ := r2.MarshalBinary()
	if err := v.Validate(key, b1); err != nil {
		t.Fatal(err)
	}
	// Forged: the value changed after signing.
	forged := bytes.Clone(b2)
	forged[len(forged)-70] ^= 1
	if err := v.Validate(key, forged); !errors.Is(err, node.ErrBadRecord) {
		t.Fatalf("forged value: %v", err)
	}
	// Forged: another drive signs a record and files it under this one.
	theirs, _ := node.NewRootRecord(other, 99, []byte("takeover"))
	bt, _ := theirs.MarshalBinary()
	if err := v.Validate(key, bt); !errors.Is(err, node.ErrBadRecord) {
		t.Fatalf("record filed under another drive's key: %v", err)
	}
	// Every flipped byte is refused.
	for i := range b1 {
		bad := bytes.Clone(b1)
		bad[i] ^= 0x80
		if v.Validate(key, bad) == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// Select prefers the newest valid record, whatever the order.
	if i, err := v.Select(key, [][]byte{b1, forged, b2, bt}); err != nil || i != 2 {
		t.Fatalf("Select = %d, %v; want 2", i, err)
	}
	if _, err := v.Select(key, [][]byte{forged, bt}); !errors.Is(err, node.ErrBadRecord) {
		t.Fatalf("Select among invalid records: %v", err)
	}
	if _, err := node.NewRootRecord(keys, 3, make([]byte, node.MaxRootValueLen+1)); err == nil {
		t.Fatal("an oversized root value was signed")
	}
}

// TestRootRecordsInTheDHT: a root published by one node is found by
// another; a stale or forged record is refused.
func TestRootRecordsInTheDHT(t *testing.T) {
	_, nodes, _ := cloud(t, 5)
	keys := driveKeys()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitForRoutes(t, nodes)
	if _, err := nodes[2].LookupRoot(ctx, keys.PublicKey()); !errors.Is(err, node.ErrNoRoot) {
		t.Fatalf("lookup before any publish: %v, want ErrNoRoot", err)
	}
	r1, _ := node.NewRootRecord(keys, 1, []byte("root one"))
	if err := nodes[0].PublishRoot(ctx, r1); err != nil {
		t.Fatal(err)
	}
	r2, _ := node.NewRootRecord(keys, 2, []byte("root two"))
	if err := nodes[1].PublishRoot(ctx, r2); err != nil {
		t.Fatal(err)
	}
	got, err := nodes[4].LookupRoot(ctx, keys.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 2 || string(got.Value) != "root two" {
		t.Fatalf("lookup found seq %d %q, want the newest", got.Seq, got.Value)
	}
	// Replaying the older record, or another record of the same seq, is
	// refused, whichever node is asked.
	if err := nodes[4].PublishRoot(ctx, r1); !errors.Is(err, rootrec.ErrStale) {
		t.Fatalf("a stale root record: %v, want ErrStale", err)
	}
	other2, _ := node.NewRootRecord(keys, 2, []byte("another root two"))
	if err := nodes[3].PublishRoot(ctx, other2); !errors.Is(err, rootrec.ErrStale) {
		t.Fatalf("a second record of seq 2: %v, want ErrStale", err)
	}
	if got, err := nodes[3].LookupRoot(ctx, keys.PublicKey()); err != nil || got.Seq != 2 || string(got.Value) != "root two" {
		t.Fatalf("after stale puts: %v, %v", got, err)
	}
	// A forged record cannot even be published.
	forged := *r2
	forged.Seq = 3
	if err := nodes[2].PublishRoot(ctx, &forged); err == nil {
		t.Fatal("a forged root record was published")
	}
}

// waitForRoutes waits until every node's DHT knows some other node.
func waitForRoutes(t *testing.T, nodes []*node.Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for node.RoutingTableSize(n) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("DHT routing tables stayed empty")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
