package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/node"
)

// daemonOn serves the API of nd from dir, with the catalog key in key
// copied there first if key is not "".
func daemonOn(t *testing.T, ctx context.Context, nd *node.Node, dir, key string) (*client.Client, *daemon.Server) {
	t.Helper()
	if key != "" {
		b, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "drive.key"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := daemon.NewServer(nd, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "murmur.sock")
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, sock) }()
	t.Cleanup(func() { cancel(); <-done })
	c := client.New(sock)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := c.Status(ctx); err == nil {
			return c, srv
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(t *testing.T, c *client.Client) []string {
	t.Helper()
	list, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

// TestCatalogAcrossNodes: files put through one node are listed and read
// through another that holds the same catalog key, removals travel both
// ways, puts made through both at once are all kept, a node that lost its
// disk gets the catalog back from the cloud with the key alone, and a
// node with another key sees none of it.
func TestCatalogAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: root, Nodes: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dirA, dirB, dirC, dirD := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	a, srvA := daemonOn(t, ctx, l.Nodes[0], dirA, "")
	b, srvB := daemonOn(t, ctx, l.Nodes[1], dirB, filepath.Join(dirA, "drive.key"))

	data := make([]byte, 2<<20+7)
	rand.Read(data)
	e, err := a.Put(ctx, "report.pdf", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// a publishes it on its own, and b's list syncs: b lists it soon.
	start := time.Now()
	for deadline := start.Add(20 * time.Second); !slices.Equal(names(t, b), []string{"report.pdf"}); {
		if time.Now().After(deadline) {
			t.Fatalf("b lists %q", names(t, b))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("put through a, listed through b %v later", time.Since(start).Round(time.Millisecond))
	var got bytes.Buffer
	if _, err := b.Get(ctx, e.ID, &got, nil); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("b reads %d bytes, %v", got.Len(), err)
	}

	// Puts through both at once, then both sync: each has all.
	for i, c := range []*client.Client{a, b, a, b} {
		if _, err := c.Put(ctx, string(rune('w'+i)), bytes.NewReader([]byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		for _, s := range []*daemon.Server{srvA, srvB} {
			if err := daemon.SyncCatalog(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []string{"report.pdf", "w", "x", "y", "z"}
	if ga, gb := names(t, a), names(t, b); !slices.Equal(ga, want) || !slices.Equal(gb, want) {
		t.Fatalf("after puts through both: a %q, b %q", ga, gb)
	}

	// A removal through b reaches a.
	if _, err := b.Remove(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := daemon.SyncCatalog(ctx, srvB); err != nil {
		t.Fatal(err)
	}
	if err := daemon.SyncCatalog(ctx, srvA); err != nil {
		t.Fatal(err)
	}
	want = want[1:]
	if got := names(t, a); !slices.Equal(got, want) {
		t.Fatalf("a after b removed report.pdf: %q", got)
	}
	if _, err := a.Get(ctx, e.ID, &bytes.Buffer{}, nil); !errors.Is(err, client.ErrNoFile) {
		t.Fatalf("a reads a removed file: %v", err)
	}

	// A node with only the key (its disk was lost) gets the catalog back.
	c, _ := daemonOn(t, ctx, l.Nodes[2], dirC, filepath.Join(dirA, "drive.key"))
	if got := names(t, c); !slices.Equal(got, want) {
		t.Fatalf("a node with the key alone lists %q", got)
	}
	// One with another key sees none of it.
	d, _ := daemonOn(t, ctx, l.Nodes[3], dirD, "")
	if got := names(t, d); len(got) != 0 {
		t.Fatalf("a node with another key lists %q", got)
	}
	// A drive.key swapped under a catalog of files stored with another is
	// refused, rather than publish entries nobody can read.
	if err := os.WriteFile(filepath.Join(dirB, "drive.key"), mustRead(t, filepath.Join(dirD, "drive.key")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.NewServer(l.Nodes[1], dirB, nil); err == nil || !strings.Contains(err.Error(), "under this key") {
		t.Fatalf("a swapped drive.key: %v", err)
	}

	st, err := a.Status(ctx)
	if err != nil || st.Catalog.Seq == 0 || st.Catalog.Error != "" || st.Catalog.Last.IsZero() {
		t.Fatalf("status of the catalog's sync: %+v, %v", st.Catalog, err)
	}
	t.Logf("catalog record at seq %d", st.Catalog.Seq)
}
