package badgerstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// TestRecordsConformance holds Records to go-datastore's own suite, on a
// store that also holds shards and leases, which its queries must never
// list and its deletions never touch.
func TestRecordsConformance(t *testing.T) {
	s := open(t, badgerstore.Config{Dir: fastDir(t), FileThreshold: 4096})
	ids := putShards(t, s, 8)
	dstest.SubtestAll(t, s.Records())
	checkShards(t, s, ids)
}

// fastDir returns a temporary directory in memory (tmpfs) where there is
// one. The suite makes some 200,000 writes, one at a time, and every
// commit is fsynced: on a disk that takes ten times as long.
func fastDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "badgerstore-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// putShards puts n shards, half of them as files, half leased.
func putShards(t *testing.T, s *badgerstore.Store, n int) []erasure.ShardID {
	t.Helper()
	ctx := context.Background()
	var ids []erasure.ShardID
	for i := range n {
		id, b := storetest.Shard(uint64(i), 1000+2000*(i%4))
		var owner []byte
		if i%2 == 0 {
			owner = []byte("owner")
		}
		if err := s.PutLeased(ctx, id, b, owner, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkShards checks that Walk lists exactly ids and that each reads back.
func checkShards(t *testing.T, s *badgerstore.Store, ids []erasure.ShardID) {
	t.Helper()
	ctx := context.Background()
	var walked []erasure.ShardID
	if err := s.Walk(ctx, func(id erasure.ShardID, _ int) error {
		walked = append(walked, id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ids)
	cmp := func(a, b erasure.ShardID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(want, cmp)
	slices.SortFunc(walked, cmp)
	if !slices.Equal(walked, want) {
		t.Fatalf("Walk lists %d shards, want %d", len(walked), len(want))
	}
	page, err := s.IDsFrom(ctx, erasure.ShardID{}, make([]erasure.ShardID, len(ids)+10))
	if err != nil || !slices.Equal(page, want) {
		t.Fatalf("IDsFrom lists %d shards (%v), want %d", len(page), err, len(want))
	}
	for _, id := range ids {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("shard %s: %v", id.Short(), err)
		}
	}
}

// records returns every record's key and value.
func records(t *testing.T, r *badgerstore.Records) map[string]string {
	t.Helper()
	res, err := r.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		out[e.Key] = string(e.Value)
	}
	return out
}

// TestRecordsApart: records and shards share one database and never see
// each other. Walk, IDsFrom, Used and ListLeased count no record; Reclaim,
// its value-log GC and the orphan sweep leave every record; records
// survive a reopen.
func TestRecordsApart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Small value-log files, so Reclaim's GC has whole files to rewrite.
	cfg := badgerstore.Config{Dir: dir, FileThreshold: 64 << 10, VlogFileSize: 1 << 20}
	s, err := badgerstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Records()
	want := map[string]string{}
	put := func(k, v string) {
		t.Helper()
		if err := r.Put(ctx, ds.NewKey(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[ds.NewKey(k).String()] = v
	}
	// Records small enough for the LSM tree and records that go to the
	// value log, among shards in the value log that Reclaim will delete:
	// the GC must carry the records over when it rewrites a file.
	for i := range 40 {
		put(fmt.Sprintf("/murmur-root/%02d", i), fmt.Sprintf("root %d", i))
		put(fmt.Sprintf("/murmur-root/big%02d", i), string(bytes.Repeat([]byte{byte(i)}, 4000)))
		for j := range 10 {
			id, b := storetest.Shard(uint64(1000*i+j), 30<<10)
			if err := s.Put(ctx, id, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Keys that spell a shard's keys after the record prefix.
	id, _ := storetest.Shard(5, 10)
	put("/s"+string(id[:]), "looks like a shard key")
	put("/z"+string(id[:]), "looks like a size key")
	put("/l"+string(id[:])+"owner", "looks like a lease key")
	ids := putShards(t, s, 6) // the even ones leased
	leased := []erasure.ShardID{ids[0], ids[2], ids[4]}
	if got := records(t, r); !mapsEqual(got, want) {
		t.Fatalf("records: %d, want %d", len(got), len(want))
	}
	vlogBefore := vlogBytes(t, dir)
	n, _, err := s.Reclaim(ctx)
	if err != nil || n != 400+3 {
		t.Fatalf("Reclaim: %d shards, %v; want 403", n, err)
	}
	if after := vlogBytes(t, dir); after > vlogBefore/2 {
		t.Fatalf("the value-log GC left %d of %d bytes: it rewrote nothing", after, vlogBefore)
	}
	checkShards(t, s, leased)
	var sum int64
	for _, id := range leased {
		n, err := s.Size(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sum += int64(n)
	}
	if s.Used() != sum {
		t.Fatalf("Used = %d, want the %d bytes of the shards held", s.Used(), sum)
	}
	l, err := s.ListLeased(ctx, []byte("owner"), erasure.ShardID{}, 100)
	if err != nil || len(l) != len(leased) {
		t.Fatalf("ListLeased: %d shards, %v; want %d", len(l), err, len(leased))
	}
	if got := records(t, r); !mapsEqual(got, want) {
		t.Fatalf("records after Reclaim: %d, want %d", len(got), len(want))
	}
	s.Close()

	s = open(t, cfg)
	r = s.Records()
	checkShards(t, s, leased)
	if s.Used() != sum {
		t.Fatalf("Used after reopening = %d, want %d", s.Used(), sum)
	}
	if got := records(t, r); !mapsEqual(got, want) {
		t.Fatalf("records after reopening: %d, want %d", len(got), len(want))
	}
	for k, v := range want {
		got, err := r.Get(ctx, ds.RawKey(k))
		if err != nil || string(got) != v {
			t.Fatalf("Get(%q) after reopening: %d bytes, %v", k, len(got), err)
		}
	}
}

// vlogBytes returns the size of the store's value-log files.
func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRecordsAfterClose: calls racing the Store's Close either finish or
// fail with ErrClosed, never reach a closed database; every call after it
// fails with ErrClosed. (The DHT's request handlers can outlive the node's
// DHT and host.)
func TestRecordsAfterClose(t *testing.T) {
	s, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Records()
	ctx := context.Background()
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				k := ds.NewKey(fmt.Sprintf("/murmur-root/%d-%d", w, i%10))
				err := r.Put(ctx, k, []byte("v"))
				if err == nil {
					_, err = r.Get(ctx, k)
				}
				if err == nil {
					var res query.Results
					if res, err = r.Query(ctx, query.Query{Prefix: "/murmur-root"}); err == nil {
						_, err = res.Rest()
					}
				}
				if err != nil {
					if !errors.Is(err, badgerstore.ErrClosed) {
						t.Errorf("a call racing Close: %v", err)
					}
					return
				}
				done.Add(1)
			}
		})
	}
	for done.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	k := ds.NewKey("/murmur-root/x")
	calls := map[string]error{}
	_, calls["Get"] = r.Get(ctx, k)
	_, calls["Has"] = r.Has(ctx, k)
	_, calls["GetSize"] = r.GetSize(ctx, k)
	_, calls["Query"] = r.Query(ctx, query.Query{})
	calls["Put"] = r.Put(ctx, k, []byte("v"))
	calls["Delete"] = r.Delete(ctx, k)
	calls["Sync"] = r.Sync(ctx, k)
	_, calls["Batch"] = r.Batch(ctx)
	for name, err := range calls {
		if !errors.Is(err, badgerstore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestRecordBatchCommitAfterClose: a batch made before Close cannot commit
// after it.
func TestRecordBatchCommitAfterClose(t *testing.T) {
	s, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := s.Records().Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(ctx, ds.NewKey("/a"), []byte("v"))
	s.Close()
	if err := b.Commit(ctx); !errors.Is(err, badgerstore.ErrClosed) {
		t.Fatalf("Commit after Close: %v, want ErrClosed", err)
	}
}

// TestRecordWritesDuringReclaim: record puts, deletes and batches that
// overlap a Reclaim wait for it rather than fail (badger refuses commits
// while its DropPrefix runs), and Reclaim drops no record.
func TestRecordWritesDuringReclaim(t *testing.T) {
	s := open(t, badgerstore.Config{Dir: fastDir(t)})
	r := s.Records()
	ctx := context.Background()
	for i := range 3000 {
		b := []byte{byte(i), byte(i >> 8), 1, 2, 3}
		if err := s.Put(ctx, erasure.SumShard(b), b); err != nil { // no lease: Reclaim drops it
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := ds.NewKey(fmt.Sprintf("/murmur-root/%d/%d", w, i))
				if err := r.Put(ctx, k, []byte("v")); err != nil {
					t.Errorf("put during reclaim: %v", err)
					return
				}
				b, err := r.Batch(ctx)
				if err == nil {
					b.Put(ctx, k.ChildString("b"), []byte("w"))
					b.Delete(ctx, k.ChildString("gone"))
					err = b.Commit(ctx)
				}
				if err != nil {
					t.Errorf("batch during reclaim: %v", err)
					return
				}
				if i%3 == 0 {
					if err := r.Delete(ctx, k); err != nil {
						t.Errorf("delete during reclaim: %v", err)
						return
					}
				}
				writes.Add(1)
			}
		})
	}
	shards, _, err := s.Reclaim(ctx)
	close(stop)
	wg.Wait()
	if err != nil || shards != 3000 {
		t.Fatalf("reclaim dropped %d shards: %v", shards, err)
	}
	if writes.Load() == 0 {
		t.Fatal("no record written during reclaim")
	}
	// Every round left its batch's record and, two times in three, its put.
	got := records(t, r)
	for w := range 4 {
		for i := 0; ; i++ {
			k := ds.NewKey(fmt.Sprintf("/murmur-root/%d/%d", w, i))
			if _, ok := got[k.ChildString("b").String()]; !ok {
				break
			}
			if _, ok := got[k.String()]; ok == (i%3 == 0) {
				t.Fatalf("record %s: held %v after round %d", k, ok, i)
			}
		}
	}
}
