package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
)

func TestNotRunning(t *testing.T) {
	c := client.New(filepath.Join(t.TempDir(), "murmur.sock"))
	if _, err := c.Status(context.Background()); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("status with no node: %v", err)
	}
}

// TestErrorKinds: an error sent as Classify says comes back from the
// client matching the same sentinel, with the message the daemon wrote.
func TestErrorKinds(t *testing.T) {
	var sent error
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		kind, status := client.Classify(sent)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(client.ErrorBody{Error: sent.Error(), Kind: kind})
	})
	c := fakeDaemon(t, mux)
	for _, tt := range []struct {
		sentinel error
		kind     string
		status   int
	}{
		{client.ErrNoFile, "no_file", 404},
		{store.ErrNotFound, "not_found", 404},
		{drive.ErrNoRoot, "no_root", 404},
		{rootrec.ErrStale, "stale_root", 409},
		{rootrec.ErrBad, "bad_record", 400},
		{store.ErrBadShard, "bad_shard", 400},
		{erasure.ErrCorrupt, "corrupt", 502},
		{crypt.ErrAuth, "auth", 403},
		{erasure.ErrTooFewShards, "data", 502},
		{store.ErrFull, "full", 507},
		{pipeline.ErrManifest, "bad_request", 400},
		{erasure.ErrDescriptor, "bad_descriptor", 400},
		{client.ErrBadStripe, "bad_stripe", 400},
		{client.ErrRequest, "malformed", 400},
		{client.ErrTooLarge, "too_large", 413},
		{placement.ErrNotEnoughPeers, "no_peers", 503},
		{client.ErrBusy, "busy", 503},
		{client.ErrPeer, "peer", 502},
	} {
		sent = fmt.Errorf("get 0123: %w", tt.sentinel)
		if kind, status := client.Classify(sent); kind != tt.kind || status != tt.status {
			t.Errorf("Classify(%v) = %q, %d; want %q, %d", sent, kind, status, tt.kind, tt.status)
		}
		_, err := c.Status(context.Background())
		if !errors.Is(err, tt.sentinel) || err.Error() != sent.Error() {
			t.Errorf("%s: the client returned %v, want %v matching its sentinel", tt.kind, err, sent)
		}
	}
	sent = errors.New("something else")
	if kind, status := client.Classify(sent); kind != "internal" || status != 500 {
		t.Errorf("Classify of an unknown error = %q, %d", kind, status)
	}
	if _, err := c.Status(context.Background()); err == nil || err.Error() != "something else" {
		t.Errorf("an internal error came back as %v", err)
	}
}

// TestUnreachable: a node whose socket accepts and then drops the
// connection is reported as unreachable, naming the socket and not the
// request's internal URL; a local file that cannot be read while it is
// sent is reported as that, not as the node's fault.
func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "murmur.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c := client.New(sock)
	_, err = c.Status(context.Background())
	if !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), sock) || strings.Contains(err.Error(), "http://") {
		t.Fatalf("status from a node that hangs up: %v", err)
	}
	// A node that reads what it is sent.
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	bad := errors.New("disk read error")
	_, err = fakeDaemon(t, mux).Put(context.Background(), "f", io.MultiReader(strings.NewReader("some bytes"), iotest.ErrReader(bad)))
	if !errors.Is(err, bad) {
		t.Fatalf("put of a file that fails to read: %v", err)
	}
}
