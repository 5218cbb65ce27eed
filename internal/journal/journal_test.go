package journal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/internal/journal"
)

func open(t testing.TB, path string, o journal.Options) *journal.Log {
	t.Helper()
	l, err := journal.Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// contents reads every key and value of l.
func contents(t testing.TB, l *journal.Log) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := l.Load("", func(k string, v []byte) error {
		out[k] = string(v)
		return nil
	}); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return out
}

func write(t testing.TB, l *journal.Log, b *journal.Batch) {
	t.Helper()
	if err := l.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// randomBatch changes model with a seeded mix of sets and deletes, some
// values far larger than a frame, and returns the batch.
func randomBatch(rng *rand.Rand, model map[string]string, big bool) *journal.Batch {
	b := &journal.Batch{}
	n := 1 + rng.IntN(40)
	for range n {
		k := fmt.Sprintf("k%03d", rng.IntN(200))
		if rng.IntN(5) == 0 {
			b.Delete(k)
			delete(model, k)
			continue
		}
		size := rng.IntN(300)
		if big && rng.IntN(10) == 0 {
			size = 1<<20 + rng.IntN(3<<20)
		}
		v := make([]byte, size)
		for i := range v {
			v[i] = byte('a' + rng.IntN(26))
		}
		b.Set(k, v)
		model[k] = string(v)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	l := open(t, path, journal.Options{})
	model := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		write(t, l, randomBatch(rng, model, false))
	}
	if got := contents(t, l); !maps.Equal(got, model) {
		t.Fatalf("before reopen: %d keys, want %d", len(got), len(model))
	}
	l.Close()
	l = open(t, path, journal.Options{})
	if got := contents(t, l); !maps.Equal(got, model) {
		t.Fatalf("after reopen: %d keys, want %d", len(got), len(model))
	}
	for k, v := range model {
		got, ok, err := l.Get(k)
		if err != nil || !ok || string(got) != v {
			t.Fatalf("Get %q: %q %v %v", k, got, ok, err)
		}
	}
	if _, ok, _ := l.Get("missing"); ok {
		t.Fatal("Get of a missing key found it")
	}
}

// TestCrashAtEveryCut cuts the file at many offsets, inside frames and
// between them, as a crash of the writer leaves it, and checks that a
// reopen finds exactly the batches that ended before the cut — a batch of
// many frames all or nothing.
func TestCrashAtEveryCut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	l := open(t, path, journal.Options{CompactAt: 1 << 40}) // offsets must only grow
	rng := rand.New(rand.NewPCG(3, 4))
	model := map[string]string{}
	type state struct {
		end   int64
		model map[string]string
	}
	states := []state{{end: 8, model: map[string]string{}}}
	for range 16 {
		write(t, l, randomBatch(rng, model, true))
		size, _ := l.Size()
		states = append(states, state{size, maps.Clone(model)})
	}
	l.Close()
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cuts []int64
	for i, s := range states {
		cuts = append(cuts, s.end, s.end+1, s.end+9)
		if i+1 < len(states) {
			next := states[i+1].end
			for range 4 {
				cuts = append(cuts, s.end+rng.Int64N(next-s.end))
			}
		}
	}
	for _, cut := range cuts {
		if cut > int64(len(full)) {
			continue
		}
		want := states[0]
		for _, s := range states {
			if s.end <= cut {
				want = s
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(p, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l := open(t, p, journal.Options{})
		if got := contents(t, l); !maps.Equal(got, want.model) {
			t.Fatalf("cut at %d: %d keys, want the %d of the batch ending at %d", cut, len(got), len(want.model), want.end)
		}
		if aside, _ := filepath.Glob(p + ".damaged-*"); len(aside) > 0 {
			t.Fatalf("cut at %d: a torn write taken for damage, kept in %v", cut, aside)
		}
		// The cut file takes new batches and keeps them.
		write(t, l, oneSet("after", "cut"))
		l.Close()
		l = open(t, p, journal.Options{})
		if got := contents(t, l); got["after"] != "cut" || len(got) != len(want.model)+1 {
			t.Fatalf("cut at %d: a batch written after the cut was lost (%d keys)", cut, len(got))
		}
		l.Close()
		os.Remove(p)
	}
}

func oneSet(k, v string) *journal.Batch {
	b := &journal.Batch{}
	b.Set(k, []byte(v))
	return b
}

// TestDamageIsKeptAside flips a byte in the middle of the file: the
// batches before it are kept, and everything from it on is copied aside,
// not lost.
func TestDamageIsKeptAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	l := open(t, path, journal.Options{})
	write(t, l, oneSet("a", "1"))
	mid, _ := l.Size()
	write(t, l, oneSet("b", "2"))
	write(t, l, oneSet("c", "3"))
	size, _ := l.Size()
	l.Close()
	b, _ := os.ReadFile(path)
	b[mid+12] ^= 0x40
	os.WriteFile(path, b, 0o600)
	l = open(t, path, journal.Options{})
	if got := contents(t, l); !maps.Equal(got, map[string]string{"a": "1"}) {
		t.Fatalf("after damage: %v", got)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged tail kept in %v, want one file", aside)
	}
	kept, _ := os.ReadFile(aside[0])
	if !bytes.Equal(kept, b[mid:size]) {
		t.Fatalf("kept %d bytes, want the %d after the damage", len(kept), size-mid)
	}
}

func TestNotAJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	os.WriteFile(path, []byte("this is some other file\n"), 0o600)
	_, err := journal.Open(path, journal.Options{})
	if !errors.Is(err, journal.ErrDamaged) {
		t.Fatalf("Open of another file: %v, want ErrDamaged", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "this is some other file\n" {
		t.Fatal("Open changed a file that is not a journal")
	}
}

// TestCompaction overwrites the same keys until the file compacts, and
// checks it shrank and kept every live value, across a reopen; a
// compaction file a crash left behind is ignored.
func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	l := open(t, path, journal.Options{CompactAt: 1 << 20})
	model := map[string]string{}
	rng := rand.New(rand.NewPCG(5, 6))
	var peak int64
	for range 1500 {
		write(t, l, randomBatch(rng, model, false))
		size, _ := l.Size()
		peak = max(peak, size)
	}
	size, live := l.Size()
	if size > 3*live+(1<<20)+8 {
		t.Fatalf("file %d bytes for %d live: never compacted", size, live)
	}
	if peak <= size {
		t.Fatalf("the file never shrank (peak %d, now %d)", peak, size)
	}
	l.Close()
	os.WriteFile(path+".compact", []byte("half a compaction"), 0o600)
	l = open(t, path, journal.Options{})
	if got := contents(t, l); !maps.Equal(got, model) {
		t.Fatalf("after compaction and reopen: %d keys, want %d", len(got), len(model))
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("the leftover compaction file stays: %v", err)
	}
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, l); !maps.Equal(got, model) {
		t.Fatal("explicit Compact lost values")
	}
}

// TestDiskFull writes into a tiny tmpfs until the disk is full: the
// failing Write reports it, nothing of it is applied, the batches before
// it survive a reopen, and once there is room again writes succeed.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	path := filepath.Join(dir, "j")
	l := open(t, path, journal.Options{})
	model := map[string]string{}
	big := strings.Repeat("x", 256<<10)
	var failed error
	for i := range 100 {
		b := oneSet(fmt.Sprint("k", i), big)
		if failed = l.Write(b); failed != nil {
			break
		}
		model[fmt.Sprint("k", i)] = big
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("writing past a full disk: %v, want ENOSPC", failed)
	}
	if got := contents(t, l); !maps.Equal(got, model) {
		t.Fatalf("after ENOSPC: %d keys, want %d", len(got), len(model))
	}
	l.Close()
	l = open(t, path, journal.Options{})
	if got := contents(t, l); !maps.Equal(got, model) {
		t.Fatalf("after ENOSPC and reopen: %d keys, want %d", len(got), len(model))
	}
	// Room again: deleting values lets compaction give space back.
	b := &journal.Batch{}
	for k := range model {
		b.Delete(k)
	}
	write(t, l, b)
	if err := l.Compact(); err != nil {
		t.Fatalf("Compact after deletes: %v", err)
	}
	write(t, l, oneSet("again", "room"))
	if got := contents(t, l); !maps.Equal(got, map[string]string{"again": "room"}) {
		t.Fatalf("after making room: %v", got)
	}
}

func TestBadKeys(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "j"), journal.Options{})
	if err := l.Write(oneSet("", "v")); err == nil {
		t.Fatal("an empty key was written")
	}
	if err := l.Write(oneSet(strings.Repeat("k", 2000), "v")); err == nil {
		t.Fatal("a 2000-byte key was written")
	}
	if l.Keys() != 0 {
		t.Fatal("a refused batch left keys")
	}
}

// FuzzOpen opens arbitrary bytes as a journal: never a panic; a file that
// opens reopens to the same contents and takes new batches.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	l, _ := journal.Open(seed, journal.Options{})
	l.Write(oneSet("a", "1"))
	b := &journal.Batch{}
	b.Set("b", []byte("two"))
	b.Delete("a")
	l.Write(b)
	l.Close()
	good, _ := os.ReadFile(seed)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte("MURMURJ\x01"))
	f.Add([]byte{})
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		p := filepath.Join(dir, fmt.Sprint("f", n))
		defer os.Remove(p)
		os.WriteFile(p, data, 0o600)
		l, err := journal.Open(p, journal.Options{})
		if err != nil {
			if !errors.Is(err, journal.ErrDamaged) {
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
			return
		}
		first := contents(t, l)
		write(t, l, oneSet("new", "batch"))
		l.Close()
		l, err = journal.Open(p, journal.Options{})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		first["new"] = "batch"
		if got := contents(t, l); !maps.Equal(got, first) {
			t.Fatalf("reopen: %v, want %v", got, first)
		}
		for _, m := range must(filepath.Glob(p + ".damaged-*")) {
			os.Remove(m)
		}
	})
}

func must[T any](v T, _ error) T { return v }

// TestHugeLengthIsDamage: a frame header whose length field a bad sector
// or a stray write turned into hundreds of MiB, in a file of a few dozen
// bytes, is damage, not a reason to allocate what it claims. Open keeps
// the batches before it, copies the rest aside, and allocates about what
// the file holds.
func TestHugeLengthIsDamage(t *testing.T) {
	for _, claim := range []uint32{512 << 20, 1<<30 + 1<<20, 1<<32 - 1} {
		t.Run(fmt.Sprint(claim), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "j")
			l := open(t, path, journal.Options{})
			write(t, l, oneSet("a", "1"))
			mid, _ := l.Size()
			write(t, l, oneSet("b", "2"))
			write(t, l, oneSet("c", "3"))
			size, _ := l.Size()
			l.Close()
			b, _ := os.ReadFile(path)
			binary.LittleEndian.PutUint32(b[mid:], claim)
			os.WriteFile(path, b, 0o600)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			l = open(t, path, journal.Options{})
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
				t.Errorf("Open of a %d-byte journal allocated %d MiB", len(b), got>>20)
			}
			if got := contents(t, l); !maps.Equal(got, map[string]string{"a": "1"}) {
				t.Fatalf("after damage: %v", got)
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 {
				t.Fatalf("damaged tail kept in %v, want one file", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, b[mid:size]) {
				t.Fatalf("kept %d bytes, want the %d after the damage", len(kept), size-mid)
			}
			// The file takes batches again, and keeps them.
			write(t, l, oneSet("d", "4"))
			l.Close()
			l = open(t, path, journal.Options{})
			if got := contents(t, l); !maps.Equal(got, map[string]string{"a": "1", "d": "4"}) {
				t.Fatalf("after a write past the damage: %v", got)
			}
		})
	}
}
