package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"testing"

	fsdrive "github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/node"
)

// TestCatalogDocSize measures the catalog's document and the reference
// its root record holds as files are added: the document grows by about
// one entry's JSON a file, the reference by a stripe's manifest entry per
// chunk of the document, far below the record's 8 KiB.
//
//	go test -count=1 -run TestCatalogDocSize -v ./daemon/
func TestCatalogDocSize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: dir, Nodes: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, n := range []int{1, 100, 1000} {
		for i := len(s.cat.list()); i < n; i++ {
			b := make([]byte, 1000)
			rand.Read(b)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", fmt.Sprintf("/v1/files?name=photo-%05d.jpg", i), bytes.NewReader(b)))
			if w.Code != 200 {
				t.Fatal(w.Body.String())
			}
		}
		doc, err := s.cat.snapshot().marshal()
		if err != nil {
			t.Fatal(err)
		}
		ref, err := s.writeDoc(ctx, doc)
		if err != nil {
			t.Fatalf("%d files: %v", n, err)
		}
		per := float64(len(doc)) / float64(n)
		t.Logf("%d files of one stripe: document %d bytes (%.0f a file), reference %d bytes", n, len(doc), per, len(ref.marshal()))
		if per > 1024 || len(ref.marshal()) > fsdrive.MaxRootValue/4 {
			t.Fatalf("%d files: %.0f bytes a file, a reference of %d bytes", n, per, len(ref.marshal()))
		}
	}
}
