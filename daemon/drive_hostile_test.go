package daemon_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/internal/rootrec"
)

// TestDriveAPIRefusesMalformed: every malformed drive request is refused
// with its own kind, before the server reads or allocates more than the
// request's bound.
func TestDriveAPIRefusesMalformed(t *testing.T) {
	srv, _ := serveDrive(t)
	h := srv.Handler()
	id, shard := cloudtest.Shard(100)
	d, shards := cloudtest.Stripe(2, 1, 50, 40)
	head, err := client.StripeHead(d)
	if err != nil {
		t.Fatal(err)
	}
	stripe := append(head, slices.Concat(shards...)...)
	rec, _ := rootrec.New(cloudtest.Keys(), 1, []byte("root"))
	record, _ := rec.MarshalBinary()
	forged := bytes.Clone(record)
	forged[len(forged)-70] ^= 1
	tooMany, _ := json.Marshal(make([]struct {
		ID erasure.ShardID `json:"id"`
	}, client.MaxRenewBatch+1))
	for _, c := range []struct {
		name, method, path string
		body               []byte
		length             int64 // declared; -1: unknown (chunked)
		status             int
		kind               string
	}{
		{"put without a length", "PUT", "/v1/drive/shards/" + id.String(), shard, -1, 400, "malformed"},
		{"put under a bad ID", "PUT", "/v1/drive/shards/xyz", shard, 100, 400, "malformed"},
		{"put too large", "PUT", "/v1/drive/shards/" + id.String(), nil, erasure.MaxShardSize + 1, 413, "too_large"},
		{"put cut short", "PUT", "/v1/drive/shards/" + id.String(), shard[:50], 100, 400, "malformed"},
		{"stripe too large", "POST", "/v1/drive/stripes", nil, client.MaxStripeBody + 1, 413, "too_large"},
		{"stripe longer than its descriptor", "POST", "/v1/drive/stripes", append(bytes.Clone(stripe), 0), int64(len(stripe)) + 1, 400, "bad_stripe"},
		{"stripe shorter than its descriptor", "POST", "/v1/drive/stripes", stripe[:len(stripe)-1], int64(len(stripe)) - 1, 400, "bad_stripe"},
		{"stripe of garbage", "POST", "/v1/drive/stripes", []byte("garbage"), 7, 400, "bad_stripe"},
		{"stripe without a length", "POST", "/v1/drive/stripes", stripe, -1, 400, "malformed"},
		{"forged record", "POST", "/v1/drive/roots", forged, int64(len(forged)), 400, "bad_record"},
		{"record too large", "POST", "/v1/drive/roots", nil, rootrec.MaxLen + 1, 413, "too_large"},
		{"lookup of a bad key", "GET", "/v1/drive/roots/abcd", nil, 0, 400, "malformed"},
		{"get with a bad hint", "GET", "/v1/drive/shards/" + id.String() + "?hint=%2B%2B", nil, 0, 400, "malformed"},
		{"get with an empty hint", "GET", "/v1/drive/shards/" + id.String() + "?hint=", nil, 0, 400, "malformed"},
		{"renew of bad JSON", "POST", "/v1/drive/renew", []byte("[{"), 2, 400, "malformed"},
		{"renew of too many", "POST", "/v1/drive/renew", tooMany, int64(len(tooMany)), 413, "too_large"},
	} {
		req := httptest.NewRequest(c.method, c.path, bytes.NewReader(c.body))
		req.ContentLength = c.length
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var e struct{ Error, Kind string }
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != c.status || e.Kind != c.kind {
			t.Errorf("%s: %d %q (%s), want %d %q", c.name, w.Code, e.Kind, e.Error, c.status, c.kind)
		}
	}
}
