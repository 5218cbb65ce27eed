package daemon_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/mount"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// diskSize returns the size of the filesystem dir is on, as statfs says.
func diskSize(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * uint64(st.Bsize)
}

// near reports whether got is within frac of want.
func near(got, want, frac float64) bool { return math.Abs(got-want) <= frac*want }

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openDrive makes and opens a drive of code k+m on cloud, closed when the
// test ends (after anything mounted later is unmounted).
func openDrive(t *testing.T, cloud drive.Cloud, k, m int) *drive.Drive {
	t.Helper()
	ctx := context.Background()
	cfg := drive.Config{
		Keys: cloudtest.Keys(), Cloud: cloud,
		Pipeline: pipeline.Config{K: k, M: m, Chunking: chunk.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}},
		RootMode: 0o777, CommitEvery: time.Hour,
	}
	if err := drive.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	d, err := drive.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("close the drive: %v", err)
		}
	})
	return d
}

// TestDriveCloudSpace: until gossip has estimated the cloud's space, Space
// reports the quotas of the nodes on the daemon's disk, each once, and
// what they store, not marked as an estimate.
func TestDriveCloudSpace(t *testing.T) {
	// An hour-long gossip period: no epoch completes during the test.
	l, err := node.StartLocal(context.Background(), node.LocalConfig{Dir: t.TempDir(), Nodes: 2, Capacity: 1 << 30, GossipPeriod: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := l.Nodes[0]
	if st := n.GossipStatus(); st.Capacity != 0 {
		t.Fatalf("gossip estimates %v bytes before its first epoch ended", st.Capacity)
	}
	d := daemon.NewDriveCloud(n, n.Cloud(placement.NewRandom(1)))
	id, b := cloudtest.Shard(5000)
	if err := l.Nodes[1].Store().Put(context.Background(), id, b); err != nil {
		t.Fatal(err)
	}
	used := uint64(l.Nodes[1].Store().Used())
	want := drive.CloudSpace{Total: 2 << 30, Free: 2<<30 - used, Stored: used}
	waitFor(t, 5*time.Second, "Space did not count the other node's shard", func() bool {
		sp, err := d.Space(context.Background())
		return err == nil && sp == want
	})
}

// TestDriveSpaceBeforeEstimate: before gossip's first estimate, a drive
// on nodes without quotas shows their disk once, scaled by the code, not
// a nominal 1 TiB; the API sends the old fields and the new.
func TestDriveSpaceBeforeEstimate(t *testing.T) {
	dir := t.TempDir()
	disk := diskSize(t, dir)
	l := startCloudWith(t, node.LocalConfig{Dir: dir, Nodes: driveNodes, GossipPeriod: time.Hour})
	srv, c := serveNode(t, l)
	d := openDrive(t, c.Drive(), 2, 1)
	st := d.Tree().StatFS()
	total := st.Blocks * uint64(st.Bsize)
	t.Logf("disk %d bytes; the drive's statfs: %d blocks of %d (%d bytes, %.4f of the disk's 2/3), %d free, %d available",
		disk, st.Blocks, st.Bsize, total, float64(total)/(float64(disk)*2/3), st.Bfree, st.Bavail)
	if total == 1<<40 || !near(float64(total), float64(disk)*2/3, 0.001) || st.Bavail == 0 || st.Bavail > st.Bfree {
		t.Fatalf("statfs %+v before the first estimate; want the disk of %d bytes once, ×2/3", st, disk)
	}

	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/drive/space", nil))
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"total", "free", "stored", "members", "estimated"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("GET /v1/drive/space = %v: no %q", raw, k)
		}
	}
	s, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status: space %+v, disk %+v", s.Space, s.Disk)
	if s.Space.Estimated || s.Space.Total != disk || s.Space.Members != driveNodes || s.Disk.Nodes != driveNodes || s.Disk.Size != int64(disk) {
		t.Fatalf("status: space %+v, disk %+v; want the disk once, of %d nodes, not an estimate", s.Space, s.Disk, driveNodes)
	}
}

// TestDriveStatfsOnMount: on a real mount of a drive of six nodes on one
// disk, through the daemon's API, statfs shows the disk once (×k/(k+m))
// as the size, and as used what the cloud stores: after N bytes are
// written and committed, about N more.
func TestDriveStatfsOnMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	ctx := context.Background()
	dir := t.TempDir()
	disk := diskSize(t, dir)
	l := startCloudWith(t, node.LocalConfig{Dir: dir, GossipPeriod: 100 * time.Millisecond})
	_, c := serveNode(t, l)
	const k, m = 4, 2
	d := openDrive(t, c.Drive(), k, m)
	mnt := t.TempDir()
	srv, err := mount.Mount(mnt, d.Tree(), mount.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	statfs := func() syscall.Statfs_t {
		t.Helper()
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	usedOf := func(st syscall.Statfs_t) float64 { return float64(st.Blocks-st.Bfree) * float64(st.Bsize) }
	usable := float64(disk) * k / (k + m)
	// Gossip's estimate, one disk, and the drive's root in the cloud.
	waitFor(t, 30*time.Second, "statfs did not show the disk once", func() bool {
		sp, err := c.Drive().Space(ctx)
		st := statfs()
		return err == nil && sp.Estimated && near(float64(st.Blocks)*float64(st.Bsize), usable, 0.001)
	})
	before := statfs()

	const size = 8 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(mnt, "file"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var after syscall.Statfs_t
	waitFor(t, 30*time.Second, "statfs did not count the bytes written", func() bool {
		after = statfs()
		return usedOf(after)-usedOf(before) >= size
	})
	grew := usedOf(after) - usedOf(before)
	t.Logf("disk %d bytes; statfs: %d blocks of %d (%.4f of the disk's %d/%d), used %.0f before and %.0f after %d bytes were written (%.3f N), %d blocks available",
		disk, after.Blocks, after.Bsize, float64(after.Blocks)*float64(after.Bsize)/usable, k, k+m, usedOf(before), usedOf(after), size, grew/size, after.Bavail)
	if grew > 1.3*size || !near(float64(after.Blocks)*float64(after.Bsize), usable, 0.001) || after.Bavail == 0 {
		t.Fatalf("statfs %+v after %d bytes were written: used grew by %.0f", after, size, grew)
	}
}
