package drive_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
)

// TestWaitCommitted: an fsync has the background commit run once the
// drive is idle for SyncQuiet, and WaitCommitted returns once the commit
// holding the file is published, which another device then reads. The
// timeout only bounds a hang: nothing here asserts a duration.
func TestWaitCommitted(t *testing.T) {
	// Created a minute ago: Create's root holds no lease now.
	e := &driveEnv{t: t, keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), cloud: cloudtest.NewMem(0), clock: &fakeClock{now: time.Now().Add(-time.Minute)}}
	if err := drive.Create(context.Background(), e.config("")); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t.TempDir())
	cfg.Clock, cfg.CommitEvery = time.Now, 10*time.Millisecond // the real clock: the loop's timers run
	d := openConfig(t, cfg)
	defer d.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.WaitCommitted(ctx); err != nil {
		t.Fatalf("nothing to commit: %v", err)
	}
	tr := d.Tree()
	data := bytes.Repeat([]byte("synced "), 1000)
	ino := writeFile(t, tr, fs.RootIno, "synced", data)
	if err := tr.Open(ino); err != nil {
		t.Fatal(err)
	}
	if err := tr.Fsync(ino); err != nil {
		t.Fatal(err)
	}
	if err := tr.Release(ino); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Pending() {
		t.Fatal("WaitCommitted returned with changes pending")
	}
	// Without an fsync, the commit comes once the drive is idle.
	writeFile(t, tr, fs.RootIno, "later", []byte("idle"))
	if err := d.WaitCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "synced"); !bytes.Equal(got, data) {
		t.Fatalf("another device read %d bytes, want %d", len(got), len(data))
	}
	if got := readFile(t, r.Tree(), fs.RootIno, "later"); string(got) != "idle" {
		t.Fatalf("another device read %q", got)
	}
}

func openConfig(t *testing.T, cfg drive.Config) *drive.Drive {
	t.Helper()
	d, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// BenchmarkFsyncToCloud measures how long a small file takes from its
// write until the commit holding it has published, when the program
// fsyncs it (the background commit runs SyncQuiet after) and when it does
// not (Quiet after), over the in-memory cloud: the wait of the
// scheduling, not of the upload. Each write comes CommitEvery (1 s here)
// after the last commit, uncounted, as a first write after a pause does.
//
//	go test -run '^$' -bench FsyncToCloud -benchtime 5x ./fs/drive/
func BenchmarkFsyncToCloud(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		b.Run(map[bool]string{true: "fsync", false: "close"}[fsync], func(b *testing.B) {
			e := &driveEnv{keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), cloud: cloudtest.NewMem(0), clock: &fakeClock{now: time.Now().Add(-time.Minute)}}
			if err := drive.Create(context.Background(), e.config("")); err != nil {
				b.Fatal(err)
			}
			cfg := e.config(b.TempDir())
			cfg.Clock, cfg.CommitEvery = time.Now, time.Second
			d, err := drive.Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close(context.Background())
			tr := d.Tree()
			n := 0
			for b.Loop() {
				b.StopTimer()
				time.Sleep(cfg.CommitEvery)
				b.StartTimer()
				a, err := tr.Create(fs.RootIno, fmt.Sprint("f", n), 0o644, 0, 0)
				n++
				if err != nil {
					b.Fatal(err)
				}
				tr.Open(a.Ino)
				if _, err := tr.WriteAt(a.Ino, []byte("data"), 0); err != nil {
					b.Fatal(err)
				}
				if fsync {
					if err := tr.Fsync(a.Ino); err != nil {
						b.Fatal(err)
					}
				}
				tr.Release(a.Ino)
				if err := d.WaitCommitted(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSyncOfOpenFile: a program that keeps its file open and fsyncs it
// as it writes (a database) does not have a commit published after every
// fsync with nothing in it (the commit leaves a file being written for
// later); once it closes the file, the file is committed.
func TestSyncOfOpenFile(t *testing.T) {
	e := &driveEnv{t: t, keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), cloud: cloudtest.NewMem(0), clock: &fakeClock{now: time.Now().Add(-time.Minute)}}
	if err := drive.Create(context.Background(), e.config("")); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t.TempDir())
	cfg.Clock, cfg.CommitEvery = time.Now, 10*time.Millisecond
	d := openConfig(t, cfg)
	defer d.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.WaitCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	tr := d.Tree()
	a, err := tr.Create(fs.RootIno, "db", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Open(a.Ino); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitCommitted(ctx); err != nil { // the create, before any write
		t.Fatal(err)
	}
	gen := d.Status().Snapshot
	// Well within Quiet between writes: the file stays busy throughout.
	for i := range 8 {
		if _, err := tr.WriteAt(a.Ino, []byte("row "), int64(4*i)); err != nil {
			t.Fatal(err)
		}
		if err := tr.Fsync(a.Ino); err != nil {
			t.Fatal(err)
		}
		time.Sleep(drive.Quiet / 10)
	}
	if got := d.Status().Snapshot; got != gen {
		t.Errorf("%d commits published while the file was being written and fsynced", got-gen)
	}
	if err := tr.Release(a.Ino); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Status().Snapshot; got != gen+1 {
		t.Errorf("after the close: snapshot %d, want %d", got, gen+1)
	}
}
