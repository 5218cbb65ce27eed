package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"
)

// newTree returns a tree over a state directory opened at dir.
func newTree(t *testing.T, dir string) (*fs.Tree, *state.Dir) {
	t.Helper()
	d, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := fs.New(fs.Config{Contents: d})
	if err != nil {
		t.Fatal(err)
	}
	return tr, d
}

// reload opens dir again and loads the tree it holds.
func reload(t *testing.T, dir string) (*fs.Tree, *state.Dir) {
	t.Helper()
	tr, d := newTree(t, dir)
	l, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	changed := map[fs.Ino]uint64{}
	for ino, e := range l.Epochs {
		changed[ino] = e
	}
	if err := tr.Load(l.Nodes, l.Files, changed, 0, 0); err != nil {
		t.Fatal(err)
	}
	return tr, d
}

func write(t *testing.T, tr *fs.Tree, name string, data []byte) fs.Ino {
	t.Helper()
	a, err := tr.Create(fs.RootIno, name, 0o644, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WriteAt(a.Ino, data, 0); err != nil {
		t.Fatal(err)
	}
	return a.Ino
}

func read(t *testing.T, tr *fs.Tree, name string) []byte {
	t.Helper()
	a, err := tr.Lookup(fs.RootIno, name)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, a.Size)
	if _, err := tr.ReadAt(a.Ino, b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoundTrip: a flushed tree comes back whole from the directory: the
// namespace, inline and cache-file contents, and each change's epoch.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tr, d := newTree(t, dir)
	small := []byte("small file")
	big := bytes.Repeat([]byte("0123456789abcdef"), state.InlineMax/8) // twice InlineMax: a cache file
	write(t, tr, "small", small)
	write(t, tr, "big", big)
	if _, err := tr.Mknod(fs.RootIno, "fifo", fs.Fifo, 0o600, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(tr, []byte("meta"), true); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "data")); len(files) != 1 {
		t.Fatalf("%d cache files, want 1 (the big file's)", len(files))
	}
	d.Close()
	tr2, d2 := reload(t, dir)
	defer d2.Close()
	if got := read(t, tr2, "small"); !bytes.Equal(got, small) {
		t.Fatalf("small: %q", got)
	}
	if got := read(t, tr2, "big"); !bytes.Equal(got, big) {
		t.Fatalf("big: %d bytes", len(got))
	}
	if a, err := tr2.Lookup(fs.RootIno, "fifo"); err != nil || a.Kind != fs.Fifo {
		t.Fatalf("fifo: %+v %v", a, err)
	}
	if m, err := d2.Meta(); err != nil || string(m) != "meta" {
		t.Fatalf("meta %q %v", m, err)
	}
	if !tr2.Pending() {
		t.Fatal("changes saved as not committed came back committed")
	}
}

// TestBusy: one state directory, one mount.
func TestBusy(t *testing.T) {
	dir := t.TempDir()
	_, d := newTree(t, dir)
	defer d.Close()
	if _, err := state.Open(dir, state.Options{}); !errors.Is(err, fs.ErrBusy) {
		t.Fatalf("a second Open: %v, want ErrBusy", err)
	}
}

// TestBadgerStateSetAside: a state directory of the badger era is moved
// aside, not read, not deleted.
func TestBadgerStateSetAside(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "meta"), 0o700)
	os.WriteFile(filepath.Join(dir, "meta", "000001.vlog"), []byte("old"), 0o600)
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	os.WriteFile(filepath.Join(dir, "data", "5"), []byte("uncommitted"), 0o600)
	_, d := newTree(t, dir)
	defer d.Close()
	if b, err := os.ReadFile(filepath.Join(dir, "old-state", "data", "5")); err != nil || string(b) != "uncommitted" {
		t.Fatalf("the old state's cache file: %q %v", b, err)
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "data")); len(files) != 0 {
		t.Fatalf("the new state starts with %d cache files", len(files))
	}
}

// TestFlushOnFullDisk: on a full disk a flush fails and says so; nothing
// it held is lost and the tree goes on taking changes; once there is room
// again (here: another file of the disk removed) the next flush saves all.
func TestFlushOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	tr, d := newTree(t, state)
	want := map[string][]byte{}
	var failed error
	for i := range 100 {
		name := fmt.Sprint("f", i)
		want[name] = bytes.Repeat([]byte{byte(i)}, 40<<10)
		write(t, tr, name, want[name])
		if failed = d.Flush(tr, nil, false); failed != nil {
			break
		}
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("flushing onto a full disk: %v, want ENOSPC", failed)
	}
	write(t, tr, "after", []byte("written while the disk was full"))
	want["after"] = []byte("written while the disk was full")
	if err := d.Flush(tr, nil, true); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flushing again onto the full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(tr, nil, true); err != nil {
		t.Fatalf("flush once there is room: %v", err)
	}
	d.Close()
	tr2, d2 := reload(t, state)
	defer d2.Close()
	ents, _ := tr2.ReadDir(fs.RootIno)
	if len(ents) != len(want) {
		t.Fatalf("%d files after the reload, want %d", len(ents), len(want))
	}
	for name, data := range want {
		if got := read(t, tr2, name); !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, want %d", name, len(got), len(data))
		}
	}
}

// TestParseEntryRefuses: an entry that is not one gives ErrDamaged.
func TestParseEntryRefuses(t *testing.T) {
	for _, b := range [][]byte{nil, {9}, {1, 0, 200}, {1, 0, 0, 0}} {
		if _, err := state.ParseEntry(b); !errors.Is(err, fs.ErrDamaged) {
			t.Errorf("ParseEntry(%x): %v, want ErrDamaged", b, err)
		}
	}
}

// FuzzParseEntry feeds the journal's inode entries: never a panic; what
// parses is a record that encodes back to one that parses.
func FuzzParseEntry(f *testing.F) {
	d, err := state.Open(f.TempDir(), state.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer d.Close()
	tr, _ := fs.New(fs.Config{Contents: d})
	tr.Create(fs.RootIno, "f", 0o644, 0, 0)
	a, _ := tr.Lookup(fs.RootIno, "f")
	tr.WriteAt(a.Ino, []byte("inline bytes"), 0)
	tr.Symlink(fs.RootIno, "l", "target", 0, 0)
	tr.Mknod(fs.RootIno, "dev", fs.BlockDevice, 0o600, 8<<8|1, 0, 0)
	tr.Inspect(func(v fs.View) {
		for n, file := range v.All() {
			c, _ := file.(*state.File)
			f.Add(state.AppendEntry(nil, n, c, 3))
		}
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := state.ParseEntry(b)
		if err != nil {
			if !errors.Is(err, fs.ErrDamaged) {
				t.Fatalf("error not ErrDamaged: %v", err)
			}
			return
		}
		again := format.AppendRecord(nil, &e.Record.Node, e.Record.Manifest)
		if _, err := format.ParseRecord(again); err != nil {
			t.Fatalf("a parsed entry's record does not parse again: %v", err)
		}
	})
}

// TestSyncOrder: a sync of the state syncs every cache file written since
// its last sync before the journal, whichever file's fsync asked for it,
// so the journal never says blocks are local that a crash of the machine
// took; a file fsynced on its own is not synced again; and a gone file's
// cache file is not made again to be synced.
func TestSyncOrder(t *testing.T) {
	dir := t.TempDir()
	var order []string
	d, err := state.Open(dir, state.Options{Synced: func(p string) { order = append(order, filepath.Base(p)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tr, err := fs.New(fs.Config{Contents: d, Sync: func() error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	a := write(t, tr, "a", bytes.Repeat([]byte("a"), 2*state.InlineMax))
	b := write(t, tr, "b", bytes.Repeat([]byte("b"), 2*state.InlineMax))
	c := write(t, tr, "c", bytes.Repeat([]byte("c"), 2*state.InlineMax))
	write(t, tr, "small", []byte("inline"))
	if err := tr.Fsync(b); err != nil { // b's cache file alone
		t.Fatal(err)
	}
	if err := tr.Unlink(fs.RootIno, "c"); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(tr, nil, false); err != nil {
		t.Fatal(err)
	}
	order = nil
	if err := d.Flush(tr, nil, true); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("%x", a), "journal"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("synced %v, want %v", order, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", fmt.Sprintf("%x", c))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the gone file's cache file: %v", err)
	}
}
