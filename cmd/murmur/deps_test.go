package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/murmur-cloud/murmur"

// thinClients are the packages a thin client of the daemon is built of:
// `murmur mount` and the other commands that only talk to the daemon, and
// the client they talk through.
var thinClients = []string{
	module + "/cmd/murmur/clientcmd",
	module + "/cmd/murmur/internal/cli",
	module + "/client",
}

// notInThinClients are the packages, by path prefix, that a thin client
// must not need: node code, the daemon, and what only a node uses.
var notInThinClients = []string{
	module + "/node",
	module + "/daemon",
	"github.com/dgraph-io/badger",
	"github.com/libp2p/",
	"github.com/ipfs/go-datastore",
}

// TestThinClientsNeedNoNode: the packages of the mount path reach no node
// code, neither libp2p nor badger: the drive's local state is a journal of
// its own (internal/journal), not a badger database.
func TestThinClientsNeedNoNode(t *testing.T) {
	for _, root := range thinClients {
		pkgs := goList(t, root)
		var bad [][]string // import chains to forbidden packages
		for _, p := range pkgs {
			if !forbidden(p.ImportPath) {
				continue
			}
			bad = append(bad, importChain(pkgs, root, p.ImportPath, nil))
		}
		// The nearest first: they say which import brought the rest.
		slices.SortStableFunc(bad, func(a, b []string) int { return len(a) - len(b) })
		for i, chain := range bad {
			if i == 5 {
				t.Errorf("%s needs %d forbidden packages in all", root, len(bad))
				break
			}
			t.Errorf("%s needs %s: %s", root, chain[len(chain)-1], strings.Join(chain, " → "))
		}
	}
}

// TestThinClientsCheckCatches: the check sees a forbidden package however
// it is reached.
func TestThinClientsCheckCatches(t *testing.T) {
	pkgs := []listed{
		{ImportPath: "a", Imports: []string{"b", module + "/fs"}},
		{ImportPath: "b", Imports: []string{"github.com/libp2p/go-libp2p"}},
		{ImportPath: module + "/fs", Imports: []string{"github.com/dgraph-io/badger/v4"}},
		{ImportPath: "github.com/libp2p/go-libp2p"},
		{ImportPath: "github.com/dgraph-io/badger/v4"},
	}
	if got := importChain(pkgs, "a", "github.com/libp2p/go-libp2p", nil); !slices.Equal(got, []string{"a", "b", "github.com/libp2p/go-libp2p"}) {
		t.Errorf("the chain to libp2p: %v", got)
	}
	if got := importChain(pkgs, "a", "github.com/dgraph-io/badger/v4", nil); !slices.Equal(got, []string{"a", module + "/fs", "github.com/dgraph-io/badger/v4"}) {
		t.Errorf("the chain to badger: %v", got)
	}
	if got := importChain(pkgs, "a", "github.com/dgraph-io/badger/v4", func(p string) bool { return p == module+"/fs" }); got != nil {
		t.Errorf("badger reached around the package skipped: %v", got)
	}
	for _, p := range []string{module + "/node", module + "/node/badgerstore", module + "/daemon", "github.com/libp2p/go-libp2p-kad-dht", "github.com/ipfs/go-datastore"} {
		if !forbidden(p) {
			t.Errorf("%s is allowed", p)
		}
	}
	for _, p := range []string{module + "/nodes", module + "/client", module + "/fs"} {
		if forbidden(p) {
			t.Errorf("%s is forbidden", p)
		}
	}
}

func forbidden(path string) bool {
	for _, f := range notInThinClients {
		if path == f || strings.HasPrefix(path, f) && (strings.HasSuffix(f, "/") || path[len(f)] == '/') {
			return true
		}
	}
	return false
}

// listed is what `go list -json` says of a package.
type listed struct {
	ImportPath string
	Imports    []string
}

// goList returns pkg and every package it depends on.
func goList(t *testing.T, pkg string) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports", pkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	var pkgs []listed
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 || pkgs[len(pkgs)-1].ImportPath != pkg {
		t.Fatalf("go list -deps %s listed %d packages, not ending with it", pkg, len(pkgs))
	}
	return pkgs
}

// importChain returns a chain of imports from root to target, or nil if
// there is none that avoids the packages skip reports (nil: none).
func importChain(pkgs []listed, root, target string, skip func(string) bool) []string {
	imports := map[string][]string{}
	for _, p := range pkgs {
		imports[p.ImportPath] = p.Imports
	}
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == target {
			var chain []string
			for ; p != ""; p = from[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range imports[p] {
			if _, seen := from[q]; seen || skip != nil && skip(q) {
				continue
			}
			from[q] = p
			queue = append(queue, q)
		}
	}
	return nil
}
