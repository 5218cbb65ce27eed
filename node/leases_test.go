package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// refsOf lists the stored shards of m with their hinted holders.
func refsOf(m *pipeline.Manifest) []node.ShardRef {
	var refs []node.ShardRef
	for i, d := range m.Stripes {
		for j, s := range d.Shards {
			if d.Stored(j) {
				refs = append(refs, node.ShardRef{ID: s.ID, Holder: m.Holders[i][j]})
			}
		}
	}
	return refs
}

// held counts the shards of refs that their hinted holder still has.
func held(t *testing.T, nodes []*node.Node, refs []node.ShardRef) int {
	t.Helper()
	n := 0
	for _, r := range refs {
		for _, nd := range nodes {
			if string(nd.ID()) != string(r.Holder) {
				continue
			}
			has, err := nd.Store().Has(context.Background(), []erasure.ShardID{r.ID})
			if err != nil {
				t.Fatal(err)
			}
			if has[0] {
				n++
			}
		}
	}
	return n
}

// TestLeasesExpireUnlessRenewed: shards whose owner renews their leases
// stay; shards nobody renews are reclaimed by their holders once the
// leases run out; another member cannot release the owner's shards, and
// the owner's release frees them at once.
func TestLeasesExpireUnlessRenewed(t *testing.T) {
	secret := node.NewCloudSecret()
	var nodes []*node.Node
	for range 6 {
		cfg := node.Config{Dir: t.TempDir(), Secret: secret, Lease: 3 * time.Second, ReclaimEvery: 200 * time.Millisecond}
		nodes = append(nodes, joinNode(t, cfg, nodes))
	}
	cfg := drive()
	ctx := context.Background()
	owner := nodes[0].Cloud(placement.NewRandom(7))
	write := func() (*pipeline.Manifest, []byte) {
		data := make([]byte, 2<<20)
		rand.Read(data)
		m, err := pipeline.Write(ctx, cfg, owner, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return m, data
	}
	dropped, _ := write()
	kept, keptData := write()
	gone, keep := refsOf(dropped), refsOf(kept)
	if held(t, nodes, gone) != len(gone) || held(t, nodes, keep) != len(keep) {
		t.Fatal("shards missing right after the writes")
	}
	// Renew the kept file's leases every second for three lease terms.
	deadline := time.Now().Add(9 * time.Second)
	for time.Now().Before(deadline) {
		rep, err := owner.Renew(ctx, keep)
		if err != nil || rep.Done != len(keep) || rep.Missing+rep.Failed != 0 {
			t.Fatalf("renew: %+v, %v", rep, err)
		}
		time.Sleep(time.Second)
	}
	if n := held(t, nodes, gone); n != 0 {
		t.Fatalf("%d of %d unrenewed shards outlived three lease terms", n, len(gone))
	}
	if n := held(t, nodes, keep); n != len(keep) {
		t.Fatalf("%d of %d renewed shards were reclaimed", len(keep)-n, len(keep))
	}
	if got := readBack(t, cfg, nodes[3].Cloud(placement.NewRandom(8)), kept); !bytes.Equal(got, keptData) {
		t.Fatal("the renewed file differs")
	}
	rep, err := owner.Renew(ctx, gone)
	if err != nil || rep.Missing != len(gone) {
		t.Fatalf("renewing reclaimed shards: %+v, %v (want all missing)", rep, err)
	}
	// Another member releasing the owner's shards changes nothing.
	if _, err := nodes[2].Cloud(placement.NewRandom(9)).Release(ctx, keep); err != nil {
		t.Fatal(err)
	}
	if n := held(t, nodes, keep); n != len(keep) {
		t.Fatalf("another member's release deleted %d shards", len(keep)-n)
	}
	// The owner's release frees them at once.
	if rep, err := owner.Release(ctx, keep); err != nil || rep.Done != len(keep) {
		t.Fatalf("release: %+v, %v", rep, err)
	}
	if n := held(t, nodes, keep); n != 0 {
		t.Fatalf("%d shards survived their owner's release", n)
	}
}
