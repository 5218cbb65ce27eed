// Package treetest compares directory trees for tests with a tool outside
// the project: rsync, which checks contents by checksum, modes, owners,
// times, symlinks, hard links, extended attributes and ACLs.
package treetest

import (
	"os/exec"
	"strings"
	"testing"
)

// RsyncDiff returns the changes rsync would make to turn dst into src
// (its --itemize-changes lines), none when they are the same. rsync must
// be installed (.ci/run installs it).
func RsyncDiff(t testing.TB, src, dst string) []string {
	t.Helper()
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal("rsync is not installed: the trees cannot be compared (apt-get install rsync)")
	}
	out, err := exec.Command(rsync, "-n", "-a", "-c", "-X", "-H", "-A", "--itemize-changes", "--delete", src+"/", dst+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("rsync: %v\n%s", err, out)
	}
	var diffs []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			diffs = append(diffs, l)
		}
	}
	return diffs
}

// RequireSame fails the test when rsync finds dst differs from src,
// listing the first differences.
func RequireSame(t testing.TB, src, dst string) {
	t.Helper()
	if d := RsyncDiff(t, src, dst); len(d) > 0 {
		t.Fatalf("%s differs from %s in %d entries, first:\n%s", dst, src, len(d), strings.Join(d[:min(len(d), 20)], "\n"))
	}
}
