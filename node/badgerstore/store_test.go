package badgerstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/store/storetest"
)

func open(t testing.TB, cfg badgerstore.Config) *badgerstore.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := badgerstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ShardStore { return open(t, badgerstore.Config{}) })
}

// TestConformanceFiles holds every shard as a file.
func TestConformanceFiles(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ShardStore { return open(t, badgerstore.Config{FileThreshold: 1}) })
}

func TestCapacity(t *testing.T) {
	storetest.RunCapacity(t, func(t *testing.T, c int64) store.ShardStore {
		return open(t, badgerstore.Config{Capacity: c})
	})
	t.Run("files", func(t *testing.T) {
		storetest.RunCapacity(t, func(t *testing.T, c int64) store.ShardStore {
			return open(t, badgerstore.Config{Capacity: c, FileThreshold: 1})
		})
	})
}

// TestReopen reopens a store with shards in its value log (under 8000
// bytes) and in files.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := badgerstore.Open(badgerstore.Config{Dir: dir, FileThreshold: 8000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []erasure.ShardID
	var total int64
	for i := range 20 {
		id, b := storetest.Shard(uint64(i), 1000*i+1)
		ids = append(ids, id)
		total += int64(len(b))
		if err := s.Put(ctx, id, b); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, badgerstore.Config{Dir: dir, FileThreshold: 8000})
	if got := s.Used(); got != total {
		t.Fatalf("after reopening, Used = %d, want %d", got, total)
	}
	for i, id := range ids {
		_, want := storetest.Shard(uint64(i), 1000*i+1)
		got, err := s.Get(ctx, id)
		if err != nil || string(got) != string(want) {
			t.Fatalf("shard %d after reopening: %d bytes, %v", i, len(got), err)
		}
	}
}

// TestHelperProcess is not a test: TestAckedPutsSurviveSIGKILL runs the
// test binary as a child that puts shards and prints each acknowledged ID.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("MURMUR_BADGER_HELPER_DIR")
	if dir == "" {
		return
	}
	s, err := badgerstore.Open(badgerstore.Config{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		id, b := storetest.Shard(uint64(i), 256<<10)
		if err := s.Put(context.Background(), id, b); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("acked", i, id)
	}
}

// TestAckedPutsSurviveSIGKILL kills a process that is putting shards, at
// full speed, and checks that every shard it acknowledged is there.
func TestAckedPutsSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "MURMUR_BADGER_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[erasure.ShardID]int{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 60 {
		var i int
		var hex string
		if _, err := fmt.Sscanf(sc.Text(), "acked %d %s", &i, &hex); err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		id, err := erasure.ParseShardID(hex)
		if err != nil {
			t.Fatal(err)
		}
		acked[id] = i
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 60 {
		t.Fatalf("child acknowledged only %d shards", len(acked))
	}
	s := open(t, badgerstore.Config{Dir: dir})
	for id, i := range acked {
		_, want := storetest.Shard(uint64(i), 256<<10)
		got, err := s.Get(context.Background(), id)
		if err != nil || string(got) != string(want) {
			t.Fatalf("acknowledged shard %d lost after SIGKILL: %v", i, err)
		}
	}
}

// fakeClock is a settable clock for lease expiry.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestLeases(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	s := open(t, badgerstore.Config{Now: clock.Now})
	ctx := context.Background()
	alice, bob := []byte("alice"), []byte("bob")
	id, b := storetest.Shard(1, 5000)
	if err := s.PutLeased(ctx, id, b, alice, clock.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLeased(ctx, id, b, bob, clock.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Alice lets go; Bob still holds it.
	if err := s.Release(ctx, []erasure.ShardID{id}, alice); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has(ctx, []erasure.ShardID{id}); !has[0] {
		t.Fatal("released by one owner, the shard is gone while another holds it")
	}
	// A stranger's release changes nothing.
	if err := s.Release(ctx, []erasure.ShardID{id}, []byte("mallory")); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has(ctx, []erasure.ShardID{id}); !has[0] {
		t.Fatal("a stranger's release deleted the shard")
	}
	if err := s.Release(ctx, []erasure.ShardID{id}, bob); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has(ctx, []erasure.ShardID{id}); has[0] {
		t.Fatal("released by its last owner, the shard is still held")
	}
	if s.Used() != 0 {
		t.Fatalf("Used = %d after the last release", s.Used())
	}
}

// TestReclaimExpired reclaims shards kept as files and shards kept in
// badger's value log, and checks the space comes back either way.
func TestReclaimExpired(t *testing.T) {
	for name, threshold := range map[string]int{"files": 0, "value log": erasure.MaxShardSize + 1} {
		t.Run(name, func(t *testing.T) { testReclaimExpired(t, threshold) })
	}
}

func testReclaimExpired(t *testing.T, threshold int) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	dir := t.TempDir()
	s := open(t, badgerstore.Config{Dir: dir, Now: clock.Now, VlogFileSize: 1 << 20, FileThreshold: threshold})
	ctx := context.Background()
	owner := []byte("owner")
	var short, long []erasure.ShardID
	for i := range 40 {
		id, b := storetest.Shard(uint64(i), 256<<10)
		until := clock.now.Add(time.Minute)
		if i%4 == 0 {
			until = clock.now.Add(24 * time.Hour)
			long = append(long, id)
		} else {
			short = append(short, id)
		}
		if err := s.PutLeased(ctx, id, b, owner, until); err != nil {
			t.Fatal(err)
		}
	}
	unleased, b := storetest.Shard(99, 1000)
	if err := s.Put(ctx, unleased, b); err != nil {
		t.Fatal(err)
	}
	// Renewing keeps a short lease alive.
	if held, err := s.Renew(ctx, short[:2], owner, clock.now.Add(24*time.Hour)); err != nil || !held[0] || !held[1] {
		t.Fatalf("Renew: %v, %v", held, err)
	}
	before := diskBytes(t, dir)
	clock.now = clock.now.Add(time.Hour)
	n, freed, err := s.Reclaim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(short) - 2 + 1; n != want {
		t.Fatalf("Reclaim deleted %d shards, want %d", n, want)
	}
	if freed != int64(len(short)-2)*(256<<10)+1000 {
		t.Fatalf("Reclaim freed %d bytes", freed)
	}
	for i, id := range append(long, short[:2]...) {
		if has, _ := s.Has(ctx, []erasure.ShardID{id}); !has[0] {
			t.Fatal("a shard under a live lease was reclaimed")
		}
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("shard %d under a live lease: %v", i, err)
		}
	}
	for _, id := range short[2:] {
		if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a reclaimed shard: %v", err)
		}
	}
	after := diskBytes(t, dir)
	t.Logf("value log and shard files: %d bytes before, %d after reclaiming %d bytes", before, after, freed)
	if before-after < freed/2 {
		t.Fatalf("the store did not shrink: %d bytes before, %d after", before, after)
	}
}

// diskBytes returns the bytes of the value logs and shard files in dir.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(path, ".vlog") || strings.Contains(path, string(filepath.Separator)+"blobs"+string(filepath.Separator)) {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOrphanFiles: a shard file without a size record (a put cut short by
// a crash) is never served and Reclaim removes it; a shard put again over
// it is whole.
func TestOrphanFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, badgerstore.Config{Dir: dir})
	ctx := context.Background()
	id, b := storetest.Shard(7, 200<<10)
	h := id.String()
	path := filepath.Join(dir, "blobs", h[:1], h)
	os.Mkdir(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, b[:1000], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of an orphan file: %v", err)
	}
	if n, _, err := s.Reclaim(ctx); err != nil || n != 0 {
		t.Fatalf("Reclaim: %d, %v", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the orphan file is still there: %v", err)
	}
	os.WriteFile(path, b[:1000], 0o600)
	if err := s.Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, id); err != nil || string(got) != string(b) {
		t.Fatalf("put over an orphan: %d bytes, %v", len(got), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(b)) {
		t.Fatalf("the shard file: %v", err)
	}
}

func TestBadOwner(t *testing.T) {
	s := open(t, badgerstore.Config{})
	id, b := storetest.Shard(1, 10)
	err := s.PutLeased(context.Background(), id, b, []byte(strings.Repeat("x", 200)), time.Now())
	if err == nil || errors.Is(err, store.ErrFull) {
		t.Fatalf("an oversized owner was accepted: %v", err)
	}
}
