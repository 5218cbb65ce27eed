package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
)

// TestReadFailureSaysWhy: a file whose shards are gone is sent with its
// status line already out when the read fails, so the node sends the
// failure in a trailer and the client reports it, with its kind, instead
// of a bare short transfer.
func TestReadFailureSaysWhy(t *testing.T) {
	c, l := serve(t)
	ctx := context.Background()
	data := make([]byte, 1<<20+3)
	rand.Read(data)
	e, err := c.Put(ctx, "gone.bin", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range l.Nodes {
		var ids []erasure.ShardID
		if err := nd.Store().Walk(ctx, func(id erasure.ShardID, _ int) error {
			ids = append(ids, id)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := nd.Store().Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got bytes.Buffer
	var size int64
	n, err := c.Get(ctx, e.ID, &got, func(s int64) { size = s })
	if size != int64(len(data)) {
		t.Errorf("the size sent is %d, not %d", size, len(data))
	}
	if !errors.Is(err, erasure.ErrTooFewShards) || !strings.Contains(err.Error(), "read failed after") {
		t.Fatalf("get of a file without shards: %d bytes, %v", n, err)
	}
	t.Logf("%v", err)
}
