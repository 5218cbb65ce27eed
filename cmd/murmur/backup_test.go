package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/internal/treetest"
	"github.com/murmur-cloud/murmur/pipeline"
)

// backupJSON is what `murmur backup --json` prints.
type backupJSON struct {
	Snapshot  string   `json:"snapshot"`
	Files     uint64   `json:"files"`
	Bytes     uint64   `json:"bytes"`
	ReadBytes uint64   `json:"read_bytes"`
	NewBytes  uint64   `json:"new_bytes"`
	Warnings  []string `json:"warnings"`
}

func backupCmd(t *testing.T, env []string, args ...string) (*backupJSON, string, error) {
	t.Helper()
	cmd := murmurCmd(append([]string{"backup", "--json"}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res backupJSON
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("backup --json printed %q: %v", out, jerr)
		}
	}
	return &res, stderr.String(), err
}

// pendingBytes adds up the chunk bytes a backup's local record of what it
// stored lists (length-prefixed manifests, the last maybe torn).
func pendingBytes(name string) int64 {
	b, _ := os.ReadFile(name)
	var n int64
	for len(b) > 0 {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			break
		}
		m, err := pipeline.ParseManifest(b[k : k+int(l)])
		if err != nil {
			break
		}
		n += m.Size
		b = b[k+int(l):]
	}
	return n
}

// storedOnPeers adds up the shard bytes every node stores.
func storedOnPeers(t *testing.T, dirs []string) int64 {
	t.Helper()
	var total int64
	for _, d := range dirs {
		out, err := murmurCmd("status", "--json", "--dir", d).Output()
		if err != nil {
			t.Fatalf("status of %s: %v", d, err)
		}
		var st struct {
			Stored int64 `json:"stored_bytes"`
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("status --json: %v", err)
		}
		total += st.Stored
	}
	return total
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// TestBackupAcrossProcesses: the Go distribution (about 16,000 files)
// backed up through real node processes, backed up again without a change
// (nothing read), restored identical to rsync; an append-only machine on
// another node backs up an overlapping tree storing little, and is
// refused what its key may not do; a backup SIGKILLed in the middle and
// run again stores little of what it had stored.
func TestBackupAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	const goroot = "/usr/local/go"
	if _, err := os.Stat(goroot); err != nil {
		t.Fatal("no Go distribution at " + goroot)
	}
	dirs, _ := startCloudProcesses(t, 6)
	pass := writeSecret(t, "correct horse battery staple")
	out, err := murmurCmd("backup", "init", "--dir", dirs[0], "--set", "office", "--passphrase-file", pass).CombinedOutput()
	if err != nil {
		t.Fatalf("backup init: %v\n%s", err, out)
	}
	pub := strings.Fields(strings.SplitN(string(out), ": ", 2)[1])[0]
	admin := []string{"--dir", dirs[0], "--set", "office", "--passphrase-file", pass}

	start := time.Now()
	first, stderr, err := backupCmd(t, nil, append(admin, goroot)...)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	t.Logf("first backup of %s: %d files, %d bytes, %d new, in %v", goroot, first.Files, first.Bytes, first.NewBytes, time.Since(start))
	if first.Files < 10000 || first.NewBytes == 0 || len(first.Warnings) > 0 {
		t.Fatalf("first backup: %+v", first)
	}
	start = time.Now()
	second, stderr, err := backupCmd(t, nil, append(admin, goroot)...)
	if err != nil {
		t.Fatalf("second backup: %v\n%s", err, stderr)
	}
	t.Logf("second backup: read %d bytes, %d new, in %v", second.ReadBytes, second.NewBytes, time.Since(start))
	if second.ReadBytes != 0 || second.NewBytes > first.NewBytes/50 {
		t.Fatalf("an unchanged tree: read %d bytes, stored %d new", second.ReadBytes, second.NewBytes)
	}

	target := t.TempDir()
	out, err = murmurCmd(append([]string{"restore", "latest", "--target", target}, admin...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	treetest.RequireSame(t, goroot, filepath.Join(target, goroot))

	// The snapshot mounts read-only, the same tree as the source.
	mnt := filepath.Join(t.TempDir(), "snap")
	m := startMount(t, mnt, append([]string{"--backup", first.Snapshot[:10]}, admin...)...)
	treetest.RequireSame(t, goroot, filepath.Join(mnt, goroot))
	if err := os.WriteFile(filepath.Join(mnt, goroot, "new"), []byte("x"), 0o644); err == nil {
		t.Fatal("wrote into a mounted snapshot")
	}
	m.stop(t)
	out, err = murmurCmd(append([]string{"diff", "--json", first.Snapshot[:10], second.Snapshot[:10]}, admin...)...).Output()
	var diff struct{ Added, Removed, Modified int }
	if err != nil || json.Unmarshal(out, &diff) != nil || diff.Added+diff.Removed+diff.Modified != 0 {
		t.Fatalf("diff of two backups of an unchanged tree: %v, %s", err, out)
	}

	// An append-only key for a laptop, used from another node.
	keyFile := filepath.Join(t.TempDir(), "laptop.key")
	lpass := writeSecret(t, "laptop passphrase")
	add := murmurCmd(append([]string{"backup", "key", "add", "--append-only", "--name", "laptop", "--out", keyFile}, admin...)...)
	add.Env = append(add.Env, "MURMUR_NEW_PASSPHRASE_FILE="+lpass)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("key add: %v\n%s", err, out)
	}
	src := t.TempDir()
	if err := exec.Command("cp", "-a", goroot+"/src", src).Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "only-on-the-laptop"), fileBytes(1, 2<<20), 0o644)
	laptop := []string{"--dir", dirs[1], "--set", pub, "--key-file", keyFile, "--passphrase-file", lpass}
	lres, stderr, err := backupCmd(t, nil, append(laptop, src)...)
	if err != nil {
		t.Fatalf("the laptop's backup: %v\n%s", err, stderr)
	}
	t.Logf("the laptop's backup of a copy of src plus 2 MiB: %d bytes, %d new", lres.Bytes, lres.NewBytes)
	// New: its own 2 MiB file and its snapshot's tree (records with each
	// file's manifest, about 500 bytes a file); every file's contents
	// are already in the set.
	if lres.NewBytes > 2<<20+lres.Bytes/10 {
		t.Fatalf("the laptop stored %d new bytes of %d; only its own 2 MiB file (and its tree) are new", lres.NewBytes, lres.Bytes)
	}
	for _, args := range [][]string{
		{"snapshots"},
		{"restore", "latest", "--target", t.TempDir()},
	} {
		out, err := murmurCmd(append(args, laptop...)...).CombinedOutput()
		if exitCode(err) != 3 || !strings.Contains(string(out), "append-only") {
			t.Fatalf("%s with the append-only key: exit %d, %s", args[0], exitCode(err), out)
		}
	}

	// SIGKILL in the middle of a backup, then run it again.
	big := t.TempDir()
	for i := range 8 {
		os.WriteFile(filepath.Join(big, fmt.Sprintf("part-%d", i)), fileBytes(100+i, 40<<20), 0o644)
	}
	cmd := murmurCmd(append([]string{"backup"}, append(admin, big)...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the backup has recorded 100 MiB of chunks stored (its
	// local record of each stripe stored, which the next run reads).
	deadline := time.Now().Add(2 * time.Minute)
	var recorded int64
	for recorded < 100<<20 {
		pending, _ := filepath.Glob(filepath.Join(dirs[0], "backup-cache", "*", "*.pending"))
		if len(pending) == 1 {
			recorded = pendingBytes(pending[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backup recorded %d bytes stored in two minutes", recorded)
		}
		time.Sleep(5 * time.Millisecond) // polling a file another process writes
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	again, stderr, err := backupCmd(t, nil, append(admin, big)...)
	if err != nil {
		t.Fatalf("the backup after the kill: %v\n%s", err, stderr)
	}
	t.Logf("SIGKILL after %d bytes recorded stored: the second run stored %d of %d bytes", recorded, again.NewBytes, again.Bytes)
	// What was recorded before the kill is not stored again; what was in
	// flight then may be (a few stripes).
	if int64(again.NewBytes) > int64(again.Bytes)-recorded+32<<20 {
		t.Fatalf("the run after the kill stored %d of %d bytes, though %d were recorded stored", again.NewBytes, again.Bytes, recorded)
	}

	// Forget the big snapshot and prune at once: the peers store less.
	before := storedOnPeers(t, dirs)
	out, err = murmurCmd(append([]string{"forget", again.Snapshot[:10]}, admin...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	out, err = murmurCmd(append([]string{"prune", "--grace", "0"}, admin...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	after := storedOnPeers(t, dirs)
	t.Logf("forget and prune of the %d-byte snapshot: the peers store %d bytes less (%d -> %d)\n%s", again.Bytes, before-after, before, after, out)
	if before-after < int64(again.Bytes) {
		t.Fatalf("after forget and prune the peers store %d bytes less; the forgotten snapshot alone held %d (before parity)", before-after, again.Bytes)
	}
	treetest.RequireSame(t, goroot, filepath.Join(target, goroot)) // the Go tree restored before
	target2 := t.TempDir()
	if out, err := murmurCmd(append([]string{"restore", second.Snapshot[:10], goroot, "--target", target2}, admin...)...).CombinedOutput(); err != nil {
		t.Fatalf("restore after prune: %v\n%s", err, out)
	}
	treetest.RequireSame(t, goroot, filepath.Join(target2, goroot))

	// A shard rots on a node's disk: check, reading all data, names it
	// (exit code 4), though a restore would mend it from its stripe.
	out, err = murmurCmd(append([]string{"check", "--read-data-subset", "100%"}, admin...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("check of a sound set: %v\n%s", err, out)
	}
	var blobs []string
	for _, d := range dirs[1:] {
		b, _ := filepath.Glob(filepath.Join(d, "*", "blobs", "*", "*"))
		b2, _ := filepath.Glob(filepath.Join(d, "blobs", "*", "*"))
		blobs = append(append(blobs, b...), b2...)
	}
	if len(blobs) == 0 {
		t.Fatal("no shard files on the nodes' disks")
	}
	rot := blobs[len(blobs)/2]
	f, err := os.OpenFile(rot, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	buf := []byte{0}
	f.ReadAt(buf, st.Size()/2)
	buf[0] ^= 0xff
	f.WriteAt(buf, st.Size()/2)
	f.Close()
	out, err = murmurCmd(append([]string{"check", "--read-data-subset", "100%"}, admin...)...).CombinedOutput()
	t.Logf("check after %s rotted: %s", filepath.Base(rot), out)
	if exitCode(err) != 4 || !strings.Contains(string(out), "bad shard "+filepath.Base(rot)) {
		t.Fatalf("check after a shard rotted: exit %d\n%s", exitCode(err), out)
	}
}
