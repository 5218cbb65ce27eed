package schedule

import (
	"errors"
	"testing"
	"time"
	_ "time/tzdata" // the zones, whether or not the machine has them
)

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, time.UTC)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseSpec(t *testing.T) {
	for in, want := range map[string]string{
		"02:00": "daily 02:00", "daily 14:30,02:00": "daily 02:00,14:30", "every 6h": "every 6h0m0s", " 23:59 ": "daily 23:59",
	} {
		sp, err := ParseSpec(in)
		if err != nil || sp.String() != want {
			t.Errorf("%q: %v, %v", in, sp, err)
		}
	}
	for _, bad := range []string{"", "2:0", "24:00", "every 10s", "every x", "noon", "02:00,"} {
		if _, err := ParseSpec(bad); !errors.Is(err, ErrSpec) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNext(t *testing.T) {
	sp, _ := ParseSpec("02:00,14:30")
	for now, want := range map[string]string{
		"2026-12-03 01:00": "2026-12-03 02:00", "2026-12-03 02:00": "2026-12-03 14:30",
		"2026-12-03 15:00": "2026-12-04 02:00", "2026-12-31 20:00": "2027-01-01 02:00",
	} {
		if got := sp.Next(at(now)); !got.Equal(at(want)) {
			t.Errorf("after %s: %v, want %s", now, got, want)
		}
	}
	every, _ := ParseSpec("every 6h")
	if got := every.Next(at("2026-12-03 01:00")); !got.Equal(at("2026-12-03 07:00")) {
		t.Errorf("every 6h: %v", got)
	}
	// Across a DST change the run stays at its local time.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	night, _ := ParseSpec("02:30")
	got := night.Next(time.Date(2026, 10, 24, 12, 0, 0, 0, berlin))
	if got.Hour() != 2 || got.Minute() != 30 || got.Day() != 25 {
		t.Errorf("across the October change: %v", got)
	}
}

// TestSchedulerRuns drives a nightly backup through success, a failing
// cloud with retries that never pass the next night, and a node that
// was down over a night.
func TestSchedulerRuns(t *testing.T) {
	sp, _ := ParseSpec("02:00")
	now := at("2026-12-03 12:00")
	s := New(map[string]Spec{"office": sp}, nil, Retry{Min: time.Minute, Max: time.Hour}, now)
	if due := s.Due(now); len(due) != 0 {
		t.Fatalf("due at noon: %v", due)
	}
	if w := s.NextWake(); !w.Equal(at("2026-12-04 02:00")) {
		t.Fatalf("next wake %v", w)
	}
	now = at("2026-12-04 02:00")
	if due := s.Due(now); len(due) != 1 {
		t.Fatalf("due at 02:00: %v", due)
	}
	s.Started("office", now)
	if due := s.Due(now); len(due) != 0 {
		t.Fatal("a running backup is due again")
	}
	now = now.Add(20 * time.Minute)
	s.Finished("office", now, "snap1", nil)
	st := s.States()["office"]
	if !st.Next.Equal(at("2026-12-05 02:00")) || st.LastSnapshot != "snap1" || st.Failures != 0 {
		t.Fatalf("after a success: %+v", st)
	}
	// The cloud is unreachable the next night: retries at 1, 2, 4... min,
	// at most an hour apart.
	now = at("2026-12-05 02:00")
	var delays []time.Duration
	for range 9 {
		s.Started("office", now)
		s.Finished("office", now, "", errors.New("no node answers"))
		next := s.States()["office"].Next
		delays = append(delays, next.Sub(now))
		now = next
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if delays[i] != want[i]*time.Minute {
			t.Fatalf("retry delays %v", delays)
		}
	}
	// Retries stop at the next night's run.
	now = at("2026-12-06 01:30")
	s.Started("office", now)
	s.Finished("office", now, "", errors.New("still down"))
	if st := s.States()["office"]; !st.Next.Equal(at("2026-12-06 02:00")) || st.Failures != 10 {
		t.Fatalf("a retry past the next run: %+v", st)
	}
	// The node restarts after being down over a night: due at once.
	saved := s.States()
	saved["office"] = State{LastStart: at("2026-12-06 02:00"), LastEnd: at("2026-12-06 02:10"), LastOK: at("2026-12-06 02:10")}
	now = at("2026-12-07 09:00")
	s = New(map[string]Spec{"office": sp}, saved, DefaultRetry, now)
	if due := s.Due(now); len(due) != 1 {
		t.Fatalf("after missing a night: due %v", due)
	}
}
