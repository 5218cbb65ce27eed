package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/node"
)

// TestBenchRepair: the repair bench's cloud loses a node and becomes
// whole again, each lost shard rebuilt once, the data readable.
func TestBenchRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("a real-clock bench")
	}
	res, err := node.BenchRepair(context.Background(), t.TempDir(), 7, 4<<20, -1, 2*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.LostShards == 0 || res.DuplicateRepairs != 0 || !res.ReadableAfter || res.RepairWrittenBytes < res.LostBytes {
		t.Fatalf("%+v", res)
	}
	t.Logf("%+v", res)
}
