package badgerstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

func TestCapacity(t *testing.T) {
	storetest.RunCapacity(t, func(t *testing.T, c int64) store.ShardStore {
		return open(t, badgerstore.Config{Capacity: c})
	})
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := badgerstore.Open(badgerstore.Config{Dir: dir})
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
	s = open(t, badgerstore.Config{Dir: dir})
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

func TestReclaimExpired(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	dir := t.TempDir()
	s := open(t, badgerstore.Config{Dir: dir, Now: clock.Now, VlogFileSize: 1 << 20})
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
	before := vlogBytes(t, dir)
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
	for _, id := range append(long, short[:2]...) {
		if has, _ := s.Has(ctx, []erasure.ShardID{id}); !has[0] {
			t.Fatal("a shard under a live lease was reclaimed")
		}
	}
	after := vlogBytes(t, dir)
	t.Logf("value log: %d bytes before, %d after reclaiming %d bytes", before, after, freed)
	if after >= before {
		t.Fatalf("value log did not shrink: %d bytes before, %d after", before, after)
	}
}

func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func TestBadOwner(t *testing.T) {
	s := open(t, badgerstore.Config{})
	id, b := storetest.Shard(1, 10)
	err := s.PutLeased(context.Background(), id, b, []byte(strings.Repeat("x", 200)), time.Now())
	if err == nil || errors.Is(err, store.ErrFull) {
		t.Fatalf("an oversized owner was accepted: %v", err)
	}
}
