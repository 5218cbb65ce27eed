package clientcmd

import (
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/backup/schedule"
)

// The dashboard lists the node's scheduled backups with their last run,
// from the files murmur backup schedule and the node keep.
func TestDashboardBackups(t *testing.T) {
	dir := t.TempDir()
	if got := DashboardBackups(dir)(); got != nil {
		t.Fatalf("no schedules: %+v", got)
	}
	if err := saveList(dir, schedulesFile, []scheduledBackup{{Name: "home", Schedule: "daily 03:00"}, {Name: "work", Schedule: "every 1h"}}); err != nil {
		t.Fatal(err)
	}
	ok := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	if err := saveRuns(dir, map[string]schedule.State{"home": {LastStart: ok, LastOK: ok, Next: ok.Add(24 * time.Hour)}, "work": {Running: true, LastError: "cloud full"}}); err != nil {
		t.Fatal(err)
	}
	got := DashboardBackups(dir)()
	if len(got) != 2 || got[0].Name != "home" || got[0].Schedule != "daily 03:00" || !got[0].LastOK.Equal(ok) || !got[0].Next.Equal(ok.Add(24*time.Hour)) ||
		got[1].Name != "work" || !got[1].Running || got[1].LastError != "cloud full" {
		t.Fatalf("%+v", got)
	}
	if d := DashboardDrives(dir)(t.Context()); len(d) != 0 {
		t.Fatalf("drives with none mounted: %+v", d)
	}
}
