package clientcmd

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/backup/schedule"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
)

// waitRuns polls the node's runs file until done says its state is, as
// the node writes it at each start and end (bounded by a minute).
func waitRuns(t *testing.T, dir, name string, done func(schedule.State) bool) schedule.State {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := loadRuns(dir)[name]
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled backup's state after a minute: %+v", st)
		}
		time.Sleep(10 * time.Millisecond) // polling a file the runner writes
	}
}

// TestScheduledBackups: a node that was down over its nightly backup runs
// it when it starts, records the snapshot, and a run that fails (a wrong
// passphrase) is retried a minute later, its error kept for murmur status.
func TestScheduledBackups(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cloud := cloudtest.NewMem(0)
	keys, err := backup.Init(ctx, cloud, []byte("pass"), crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	dir, src := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("nightly\n"), 0o644)
	good := filepath.Join(dir, "pass")
	os.WriteFile(good, []byte("pass\n"), 0o600)
	bad := filepath.Join(dir, "wrong")
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	pub := hex.EncodeToString(keys.Public)
	list := []scheduledBackup{
		{Name: "office", Set: pub, Paths: []string{src}, Schedule: "daily 02:00", PassphraseFile: good},
		{Name: "broken", Set: pub, Paths: []string{src}, Schedule: "daily 02:00", PassphraseFile: bad},
	}
	if err := saveList(dir, schedulesFile, list); err != nil {
		t.Fatal(err)
	}
	// Both last ran two days ago: each missed a night.
	long := time.Now().Add(-48 * time.Hour)
	saveRuns(dir, map[string]schedule.State{"office": {LastStart: long, LastEnd: long, LastOK: long}, "broken": {LastStart: long, LastEnd: long, LastOK: long}})
	done := make(chan error, 1)
	go func() { done <- RunScheduledBackups(ctx, dir, cloud, nil, slog.New(slog.DiscardHandler)) }()

	ok := waitRuns(t, dir, "office", func(st schedule.State) bool { return st.LastSnapshot != "" && !st.Running })
	if ok.Failures != 0 || !ok.Next.After(time.Now()) {
		t.Fatalf("the missed backup, run: %+v", ok)
	}
	snaps, err := backup.Snapshots(ctx, cloud, keys)
	if err != nil || len(snaps) != 1 || snaps[0].ID.String() != ok.LastSnapshot {
		t.Fatalf("%d snapshots, %v; state %+v", len(snaps), err, ok)
	}
	failed := waitRuns(t, dir, "broken", func(st schedule.State) bool { return st.Failures == 1 && !st.Running })
	if failed.LastError == "" || failed.Next.Sub(failed.LastEnd) != time.Minute {
		t.Fatalf("the failed backup: %+v", failed)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
