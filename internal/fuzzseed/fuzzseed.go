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

// Golden compares the golden files a test makes today, files[name], with
// those committed in dir, writing them first when update is set. It
// reports each file that differs and returns the committed bytes: the
// ones every later version must keep reading.
func Golden(t testing.TB, dir string, files map[string][]byte, update bool) map[string][]byte {
	t.Helper()
	committed := map[string][]byte{}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if update {
			WriteFile(t, path, b)
		}
		c, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(c) != string(b) {
			t.Errorf("%s: today's code makes other bytes than the committed ones", path)
		}
		committed[name] = c
	}
	return committed
}
