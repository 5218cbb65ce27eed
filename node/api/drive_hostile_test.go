package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node/api"
	"github.com/murmur-cloud/murmur/store"
)

// TestDriveAPIRefusesMalformed: every malformed drive request is refused
// with its own kind, before the server reads or allocates more than the
// request's bound.
func TestDriveAPIRefusesMalformed(t *testing.T) {
	srv, _ := serveDrive(t)
	h := srv.Handler()
	id, shard := cloudtest.Shard(100)
	d, shards := cloudtest.Stripe(2, 1, 50, 40)
	stripe := stripeBody(t, d, shards)
	rec, _ := rootrec.New(cloudtest.Keys(), 1, []byte("root"))
	record, _ := rec.MarshalBinary()
	forged := bytes.Clone(record)
	forged[len(forged)-70] ^= 1
	tooMany, _ := json.Marshal(make([]struct {
		ID erasure.ShardID `json:"id"`
	}, api.MaxRenewBatch+1))
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
		{"stripe too large", "POST", "/v1/drive/stripes", nil, api.MaxStripeBody + 1, 413, "too_large"},
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

// fakeDaemon serves h on a unix socket and returns a client of it.
func fakeDaemon(t *testing.T, h http.Handler) *api.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "murmur.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return api.NewClient(sock)
}

// TestDriveClientDistrustsTheDaemon: the client checks what the daemon
// says, so a daemon that lies or breaks down is caught.
func TestDriveClientDistrustsTheDaemon(t *testing.T) {
	ctx := context.Background()
	a, b := cloudtest.Keys(), cloudtest.Keys()
	theirs, _ := rootrec.New(b, 7, []byte("b's root"))
	theirBytes, _ := theirs.MarshalBinary()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/drive/shards/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("hint") {
		case "":
			w.Write([]byte("bytes of another shard"))
		case "aHVnZQ": // "huge"
			w.Header().Set("Content-Length", strconv.Itoa(erasure.MaxShardSize+1))
		case "c2hvcnQ": // "short"
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("only this"))
		}
	})
	mux.HandleFunc("GET /v1/drive/roots/{drive}", func(w http.ResponseWriter, r *http.Request) {
		w.Write(theirBytes) // b's valid record, for any drive
	})
	mux.HandleFunc("POST /v1/drive/stripes", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"holders": ["AQ=="]}`)) // one holder, whatever the stripe
	})
	mux.HandleFunc("POST /v1/drive/roots", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, `{"error": "something new", "kind": "unheard_of"}`)
	})
	d := fakeDaemon(t, mux).Drive()
	id, _ := cloudtest.Shard(50)
	if _, err := d.Get(ctx, id); !errors.Is(err, erasure.ErrCorrupt) {
		t.Errorf("a shard's wrong bytes: %v, want ErrCorrupt", err)
	}
	if _, err := d.GetHinted(ctx, id, []store.Holder{"huge"}); err == nil || !strings.Contains(err.Error(), "answer of") {
		t.Errorf("an answer longer than any shard: %v", err)
	}
	if _, err := d.GetHinted(ctx, id, []store.Holder{"short"}); !errors.Is(err, api.ErrShort) {
		t.Errorf("an answer cut short: %v, want ErrShort", err)
	}
	if _, _, err := d.LookupRoot(ctx, a.PublicKey()); !errors.Is(err, rootrec.ErrBad) {
		t.Errorf("another drive's record: %v, want rootrec.ErrBad", err)
	}
	if seq, v, err := d.LookupRoot(ctx, b.PublicKey()); err != nil || seq != 7 || string(v) != "b's root" {
		t.Errorf("the drive's own record: %d %q, %v", seq, v, err)
	}
	ds, shards := cloudtest.Stripe(2, 1, 10)
	if _, err := d.PutStripe(ctx, ds, shards); err == nil || !strings.Contains(err.Error(), "1 holders for 3 shards") {
		t.Errorf("holders that do not match the stripe: %v", err)
	}
	if err := d.PublishRoot(ctx, a, 1, nil); err == nil || err.Error() != "publish root of seq 1: something new" {
		t.Errorf("an error of a kind this client does not know: %v", err)
	}
}
