// Package fuzzseed writes the files tests commit: golden vectors, and
// fuzz seed corpora in the format `go test` reads from testdata/fuzz. Tests
// call it only when asked to refresh them (an -update flag).
package fuzzseed

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes b to path, making its directory.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteCorpora writes each fuzz target's seeds, corpora[target][name], as
// dir/target/name: one []byte argument each.
func WriteCorpora(t testing.TB, dir string, corpora map[string]map[string][]byte) {
	t.Helper()
	for target, seeds := range corpora {
		for name, b := range seeds {
			WriteFile(t, filepath.Join(dir, target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b))
		}
	}
}
