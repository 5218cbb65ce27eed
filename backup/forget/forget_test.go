package forget_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without relying on the system's zoneinfo

	"github.com/murmur-cloud/murmur/backup/forget"
)

// zone is the fixed zone the table's times are written in and bucketed in.
var zone = time.FixedZone("UTC+2", 2*60*60)

func at(id, host string, paths []string, ts string, tags ...string) forget.Snapshot {
	t, err := time.ParseInLocation("2006-01-02 15:04", ts, zone)
	if err != nil {
		panic(err)
	}
	return forget.Snapshot{ID: id, Time: t, Host: host, Paths: paths, Tags: tags}
}

// fixture is 38 snapshots in three groups over two years, given out of
// order. The ISO weeks matter: 2025-12-29..31 are in 2026-W01, 2024-12-30 is
// in 2025-W01 with 2025-01-02, and 2024-12-31 in 2025-W01 with 2025-01-01.
func fixture() []forget.Snapshot {
	home, srv, etc := []string{"/home"}, []string{"/srv"}, []string{"/etc", "/home"}
	return []forget.Snapshot{
		at("b06", "beta", srv, "2025-10-31 03:00"),
		at("a22", "alpha", home, "2024-01-15 10:05"), // same hour as a21
		at("a02", "alpha", home, "2025-12-31 18:00"), // same time as a01
		at("a01", "alpha", home, "2025-12-31 18:00", "daily"),
		at("a03", "alpha", home, "2025-12-31 09:15"),
		at("a04", "alpha", home, "2025-12-30 23:59"),
		at("a05", "alpha", home, "2025-12-29 00:10"),
		at("a06", "alpha", home, "2025-12-28 22:00"),
		at("a07", "alpha", home, "2025-12-01 08:00"),
		at("a08", "alpha", home, "2025-11-30 20:00"),
		at("a09", "alpha", home, "2025-11-02 10:00", "manual"),
		at("a10", "alpha", home, "2025-10-15 12:00"),
		at("a11", "alpha", home, "2025-08-20 07:30"),
		at("a12", "alpha", home, "2025-06-01 06:00"),
		at("a13", "alpha", home, "2025-03-10 11:00", "pre-upgrade"),
		at("a14", "alpha", home, "2025-01-02 03:00"),
		at("a15", "alpha", home, "2024-12-30 15:00"),
		at("a16", "alpha", home, "2024-12-29 15:00"),
		at("a17", "alpha", home, "2024-11-11 11:11"),
		at("a18", "alpha", home, "2024-07-04 16:00"),
		at("a19", "alpha", home, "2024-07-04 09:00", "manual", "pre-upgrade"),
		at("a20", "alpha", home, "2024-02-29 12:00"),
		at("a21", "alpha", home, "2024-01-15 10:30"),
		at("e03", "alpha", etc, "2024-12-31 12:00"),
		at("e01", "alpha", etc, "2025-12-31 12:00"),
		at("e02", "alpha", etc, "2025-06-15 12:00", "other"),
		at("e04", "alpha", etc, "2024-06-15 12:00"),
		at("b01", "beta", srv, "2025-11-20 03:00"),
		at("b02", "beta", srv, "2025-11-19 03:00"),
		at("b03", "beta", srv, "2025-11-18 03:00"),
		at("b04", "beta", srv, "2025-11-17 03:00"),
		at("b05", "beta", srv, "2025-11-16 03:00"),
		at("b07", "beta", srv, "2025-09-30 03:00"),
		at("b08", "beta", srv, "2025-05-05 03:00", "manual"),
		at("b09", "beta", srv, "2025-01-01 03:00"),
		at("b10", "beta", srv, "2024-12-31 03:00"),
		at("b11", "beta", srv, "2024-06-30 03:00"),
		at("b12", "beta", srv, "2024-01-01 03:00"),
	}
}

func TestGroups(t *testing.T) {
	groups := forget.Apply(fixture(), forget.Policy{Last: 1}, zone)
	type key struct {
		host  string
		paths []string
		ids   []string
	}
	var got []key
	for _, g := range groups {
		k := key{host: g.Host, paths: g.Paths}
		for _, d := range g.Decisions {
			k.ids = append(k.ids, d.Snapshot.ID)
		}
		got = append(got, k)
	}
	ids := func(prefix string, n int) (s []string) {
		for i := 1; i <= n; i++ {
			s = append(s, fmt.Sprintf("%s%02d", prefix, i))
		}
		return s
	}
	want := []key{
		{"alpha", []string{"/etc", "/home"}, ids("e", 4)},
		{"alpha", []string{"/home"}, ids("a", 22)}, // a01 before a02: same time, by ID
		{"beta", []string{"/srv"}, ids("b", 12)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groups:\n got %v\nwant %v", got, want)
	}
}

// allBut returns the reasons map keeping every ID in ids except those in not,
// each for the one reason r.
func allBut(r string, ids []string, not ...string) map[string][]string {
	m := map[string][]string{}
	for _, id := range ids {
		if !slices.Contains(not, id) {
			m[id] = []string{r}
		}
	}
	return m
}

func only(r string, ids ...string) map[string][]string { return allBut(r, ids) }

func merge(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestApplyRules(t *testing.T) {
	var all []string
	for _, s := range fixture() {
		all = append(all, s.ID)
	}
	six := []string{"last snapshot", "daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot", "within 72h"}
	for _, tc := range []struct {
		name string
		p    forget.Policy
		want map[string][]string // kept ID -> reasons; every other ID is removed
	}{
		{"empty keeps all", forget.Policy{}, allBut("policy is empty", all)},
		{"last 3", forget.Policy{Last: 3}, only("last snapshot", "a01", "a02", "a03", "b01", "b02", "b03", "e01", "e02", "e03")},
		{"hourly 4", forget.Policy{Hourly: 4}, only("hourly snapshot", "a01", "a03", "a04", "a05", "b01", "b02", "b03", "b04", "e01", "e02", "e03", "e04")},
		{"daily 3", forget.Policy{Daily: 3}, only("daily snapshot", "a01", "a04", "a05", "b01", "b02", "b03", "e01", "e02", "e03")},
		// One per day, and the oldest a22 although a21 holds its day.
		{"daily all", forget.Policy{Daily: -1}, allBut("daily snapshot", all, "a02", "a03", "a19")},
		{"weekly 4", forget.Policy{Weekly: 4}, only("weekly snapshot", "a01", "a06", "a07", "a08", "b01", "b05", "b06", "b07", "e01", "e02", "e03", "e04")},
		// ISO weeks across years: a15 shares 2025-W01 with a14, b10 with b09.
		{"weekly all", forget.Policy{Weekly: -1}, allBut("weekly snapshot", all, "a02", "a03", "a04", "a05", "a15", "a19", "b02", "b03", "b04", "b10")},
		{"monthly 6", forget.Policy{Monthly: 6}, only("monthly snapshot", "a01", "a08", "a10", "a11", "a12", "a13", "b01", "b06", "b07", "b08", "b09", "b10", "e01", "e02", "e03", "e04")},
		{"yearly 2", forget.Policy{Yearly: 2}, only("yearly snapshot", "a01", "a15", "b01", "b10", "e01", "e03")},
		// A count left over at the oldest snapshot keeps it (restic).
		{"yearly 3 keeps oldest", forget.Policy{Yearly: 3}, only("yearly snapshot", "a01", "a15", "a22", "b01", "b10", "b12", "e01", "e03", "e04")},
		// From each group's newest; b04 is exactly 72h older than b01.
		{"within 72h", forget.Policy{Within: 72 * time.Hour}, only("within 72h", "a01", "a02", "a03", "a04", "a05", "a06", "b01", "b02", "b03", "e01")},
		{"tags", forget.Policy{Tags: []string{"manual", "pre-upgrade"}}, map[string][]string{
			"a09": {"tag manual"}, "a13": {"tag pre-upgrade"}, "a19": {"tag manual", "tag pre-upgrade"}, "b08": {"tag manual"},
		}},
		{"combined", forget.Policy{Last: 1, Daily: 2, Weekly: 1, Monthly: 3, Yearly: -1, Within: 72 * time.Hour, Tags: []string{"manual"}},
			merge(
				map[string][]string{"a01": six, "b01": six, "e01": six},
				only("within 72h", "a02", "a03", "a05", "a06", "b03"),
				map[string][]string{"a04": {"daily snapshot", "within 72h"}, "b02": {"daily snapshot", "within 72h"}},
				only("monthly snapshot", "a08", "a10", "b06", "b07"),
				only("tag manual", "a09", "a19", "b08"),
				only("yearly snapshot", "a15", "a22", "b10", "b12", "e04"),
				map[string][]string{"e02": {"daily snapshot", "monthly snapshot"}, "e03": {"monthly snapshot", "yearly snapshot"}},
			)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, g := range forget.Apply(fixture(), tc.p, zone) {
				for _, d := range g.Decisions {
					n++
					want, keep := tc.want[d.Snapshot.ID]
					if d.Keep != keep || !slices.Equal(d.Reasons, want) {
						t.Errorf("%s: keep %v %q, want %v %q", d.Snapshot.ID, d.Keep, d.Reasons, keep, want)
					}
				}
			}
			if n != len(all) {
				t.Errorf("%d decisions for %d snapshots", n, len(all))
			}
		})
	}
}

func TestPolicyEmptyValidate(t *testing.T) {
	for _, tc := range []struct {
		p            forget.Policy
		empty, valid bool
	}{
		{forget.Policy{}, true, true},
		{forget.Policy{Tags: []string{}}, true, true},
		{forget.Policy{Last: 1}, false, true},
		{forget.Policy{Yearly: -1}, false, true},
		{forget.Policy{Within: time.Nanosecond}, false, true},
		{forget.Policy{Tags: []string{"x"}}, false, true},
		{forget.Policy{Daily: -2}, true, false},
		{forget.Policy{Hourly: 3, Monthly: -5}, false, false},
		{forget.Policy{Within: -time.Hour}, true, false},
		{forget.Policy{Tags: []string{""}}, false, false},
	} {
		if got := tc.p.Empty(); got != tc.empty {
			t.Errorf("%+v: Empty %v, want %v", tc.p, got, tc.empty)
		}
		err := tc.p.Validate()
		if (err == nil) != tc.valid || (err != nil && !errors.Is(err, forget.ErrInvalidPolicy)) {
			t.Errorf("%+v: Validate %v, want valid %v", tc.p, err, tc.valid)
		}
	}
}

func TestWithinReason(t *testing.T) {
	s := []forget.Snapshot{{ID: "x", Time: time.Unix(0, 0)}}
	for d, want := range map[time.Duration]string{
		72 * time.Hour: "within 72h", 90 * time.Minute: "within 1h30m", 30 * time.Minute: "within 30m",
		time.Hour + time.Second: "within 1h0m1s", 1500 * time.Millisecond: "within 1.5s",
	} {
		g := forget.Apply(s, forget.Policy{Within: d}, nil)
		if r := g[0].Decisions[0].Reasons; !slices.Equal(r, []string{want}) {
			t.Errorf("Within %v: reasons %q, want %q", d, r, want)
		}
	}
}

// TestDSTLocalDays buckets across both of Berlin's 2025 DST changes: days and
// hours are local wall-clock dates, so a 23h or 25h day is one bucket, and
// the hour repeated in October is one hourly bucket (as in restic).
func TestDSTLocalDays(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(id, ts string) forget.Snapshot {
		tm, err := time.Parse("2006-01-02 15:04", ts)
		if err != nil {
			t.Fatal(err)
		}
		return forget.Snapshot{ID: id, Time: tm, Host: "h"}
	}
	spring := []forget.Snapshot{
		utc("s1", "2025-03-28 12:00"),
		utc("s2", "2025-03-29 23:30"), // 03-30 00:30 CET
		utc("s3", "2025-03-30 21:30"), // 03-30 23:30 CEST, 22h after s2
		utc("s4", "2025-03-30 22:30"), // 03-31 00:30 CEST
	}
	autumn := []forget.Snapshot{
		utc("f1", "2025-10-24 12:00"),
		utc("f2", "2025-10-25 22:30"), // 10-26 00:30 CEST
		utc("f3", "2025-10-26 00:30"), // 02:30 CEST
		utc("f4", "2025-10-26 01:30"), // 02:30 CET
		utc("f5", "2025-10-26 22:30"), // 10-26 23:30 CET, 24h after f2
	}
	for _, tc := range []struct {
		snaps []forget.Snapshot
		p     forget.Policy
		loc   *time.Location
		want  []string
	}{
		{spring, forget.Policy{Daily: -1}, berlin, []string{"s4", "s3", "s1"}},
		{spring, forget.Policy{Daily: -1}, time.UTC, []string{"s4", "s2", "s1"}},
		{autumn, forget.Policy{Daily: -1}, berlin, []string{"f5", "f1"}},
		{autumn, forget.Policy{Daily: -1}, time.UTC, []string{"f5", "f2", "f1"}},
		{autumn, forget.Policy{Hourly: -1}, berlin, []string{"f5", "f4", "f2", "f1"}},
	} {
		if got := keptIDs(forget.Apply(tc.snaps, tc.p, tc.loc)); !slices.Equal(got, tc.want) {
			t.Errorf("%+v in %v: kept %v, want %v", tc.p, tc.loc, got, tc.want)
		}
	}
}

func keptIDs(groups []forget.Group) []string {
	var ids []string
	for _, g := range groups {
		for _, d := range g.Decisions {
			if d.Keep {
				ids = append(ids, d.Snapshot.ID)
			}
		}
	}
	return ids
}
