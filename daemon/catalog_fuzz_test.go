package daemon_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/daemon"
)

// FuzzCatalog: any catalog file either loads or is refused as damaged,
// never a panic; what loads names each file's code (or "-"), and written
// back it loads the same.
func FuzzCatalog(f *testing.F) {
	old, err := os.ReadFile(filepath.Join("testdata", "catalog-before-codes.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(old)
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"a","k":-1,"m":2},{"id":"b","k":8,"m":0}]`))
	f.Add([]byte(`[{"id":"a","k":1e99}]`))
	f.Add([]byte(`{"id":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "catalog.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		list, err := daemon.LoadCatalog(path)
		if err != nil {
			if !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("not refused as damaged: %v", err)
			}
			return
		}
		for _, e := range list {
			c := e.Code()
			if (e.K <= 0 || e.M < 0) != (c == "-") {
				t.Fatalf("entry k=%d m=%d shows code %q", e.K, e.M, c)
			}
		}
		again, err := json.Marshal(list)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, again, 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := daemon.LoadCatalog(path)
		if err != nil {
			t.Fatalf("a catalog written back does not load: %v", err)
		}
		if len(back) != len(list) {
			t.Fatalf("%d entries back of %d", len(back), len(list))
		}
		byID := map[string]client.Entry{}
		for _, e := range back {
			byID[e.ID] = e
		}
		for _, e := range list {
			if !reflect.DeepEqual(byID[e.ID], e) {
				t.Fatalf("entry %q changed: %+v, back %+v", e.ID, e, byID[e.ID])
			}
		}
	})
}
