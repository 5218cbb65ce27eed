package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/node"
)

// TestLsShowsCode: murmur ls shows each file's code, "-" for a file the
// catalog stored before it recorded codes, and ls --json carries k and
// m; murmur status explains the code and how it was chosen.
func TestLsShowsCode(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: filepath.Join(dir, "cloud"), Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.NewServer(l.Nodes[0], dir, nil); err != nil { // its drive key
		t.Fatal(err)
	}
	old := `[{"id":"0123456789abcdef","name":"old.txt","size":17,"created":"2026-11-01T10:00:00Z","manifest":"AAEC"}]`
	if err := os.WriteFile(filepath.Join(dir, "catalog.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := daemon.NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, cli.SocketPath(dir)) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := client.New(cli.SocketPath(dir)).Status(ctx); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	in := filepath.Join(t.TempDir(), "photo.jpg")
	data := make([]byte, 100<<10)
	rand.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "put", "--dir", dir, in)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Fields(out)[0]
	var list []client.Entry
	js, err := run(t, "ls", "--dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js), &list); err != nil || len(list) != 2 {
		t.Fatalf("ls --json: %q, %v", js, err)
	}
	put := list[1]
	if put.ID != id || put.K < 1 || put.M < 1 || list[0].K != 0 || !strings.Contains(js, `"k": `) {
		t.Fatalf("ls --json: %q", js)
	}
	ls, err := run(t, "ls", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(ls), "\n")
	if len(lines) != 3 || !strings.HasPrefix(strings.Join(strings.Fields(lines[0]), " "), "ID SIZE CODE STORED NAME") {
		t.Fatalf("ls:\n%s", ls)
	}
	col := strings.Index(lines[0], "CODE")
	code := func(line string) string { return strings.Fields(line[col:])[0] }
	if !strings.HasPrefix(lines[1], "0123456789abcdef ") || code(lines[1]) != "-" {
		t.Fatalf("ls, the old file:\n%s", ls)
	}
	if !strings.HasPrefix(lines[2], id+" ") || code(lines[2]) != put.Code() {
		t.Fatalf("ls, the new file (%s):\n%s", put.Code(), ls)
	}
	st, err := run(t, "status", "--dir", dir)
	if err != nil || !strings.Contains(st, "code      k=") || !strings.Contains(st, "chosen at ") || !strings.Contains(st, "observations of 2 members") {
		t.Fatalf("status: %q, %v", st, err)
	}
	t.Logf("ls:\n%s\n%s", ls, st)
}
