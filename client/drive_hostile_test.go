package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/store"
)

// fakeDaemon serves h on a unix socket and returns a client of it.
func fakeDaemon(t *testing.T, h http.Handler) *client.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "murmur.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return client.New(sock)
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
	if _, err := d.GetHinted(ctx, id, []store.Holder{"short"}); !errors.Is(err, client.ErrShort) {
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
