package forget

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Unlimited as a count keeps the newest snapshot of every bucket.
const Unlimited = -1

// ErrInvalidPolicy is wrapped by the errors of [Policy.Validate].
var ErrInvalidPolicy = errors.New("invalid retention policy")

// Snapshot is what the policy looks at.
type Snapshot struct {
	ID    string // opaque, unique
	Time  time.Time
	Host  string
	Paths []string // the backed-up paths (sorted by the caller)
	Tags  []string
}

// Policy says which snapshots to keep. A snapshot is kept if any rule keeps it.
type Policy struct {
	// Counts of buckets each rule keeps: 0 none by this rule, -1 ([Unlimited])
	// every bucket. Last's buckets are single snapshots.
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	// Within keeps every snapshot strictly younger than this relative to the
	// newest snapshot of its group (not to now); 0 none.
	Within time.Duration
	// Tags keeps every snapshot carrying any of these tags.
	Tags []string
}

func (p Policy) counts() [6]int {
	return [6]int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly}
}

func active(n int) bool { return n > 0 || n == Unlimited }

// Empty reports whether the policy keeps nothing by any rule. forget must
// refuse an empty policy: it would remove everything.
func (p Policy) Empty() bool {
	for _, n := range p.counts() {
		if active(n) {
			return false
		}
	}
	return p.Within <= 0 && len(p.Tags) == 0
}

// Validate rejects counts below -1, a negative Within and empty tags. The
// error wraps [ErrInvalidPolicy].
func (p Policy) Validate() error {
	for i, n := range p.counts() {
		if n < Unlimited {
			return fmt.Errorf("%w: keep-%s %d: want a count >= 0, or -1 for unlimited", ErrInvalidPolicy, rules[i].name, n)
		}
	}
	if p.Within < 0 {
		return fmt.Errorf("%w: keep-within %v is negative", ErrInvalidPolicy, p.Within)
	}
	if slices.Contains(p.Tags, "") {
		return fmt.Errorf("%w: keep-tag is empty", ErrInvalidPolicy)
	}
	return nil
}

// Decision is the policy's verdict on one snapshot.
type Decision struct {
	Snapshot Snapshot // the caller's value; its slices are shared, not copied
	Keep     bool
	// Reasons names every rule that kept the snapshot, in the order of the
	// Policy fields: "last snapshot", "hourly snapshot", "daily snapshot",
	// "weekly snapshot", "monthly snapshot", "yearly snapshot", "within 72h",
	// "tag T"; or only "policy is empty". Nil when the snapshot is removed.
	Reasons []string
}

// Group is the snapshots of one host and set of paths with their decisions,
// newest first.
type Group struct {
	Host      string
	Paths     []string // sorted; nil for none
	Decisions []Decision
}

type rule struct {
	name   string
	bucket func(t time.Time, nr int) int
}

// rules are the count rules in the order of Policy.counts.
var rules = [6]rule{
	{"last", func(_ time.Time, nr int) int { return nr }},
	{"hourly", func(t time.Time, _ int) int {
		return t.Year()*1000000 + int(t.Month())*10000 + t.Day()*100 + t.Hour()
	}},
	{"daily", func(t time.Time, _ int) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }},
	{"weekly", func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }},
	{"monthly", func(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }},
	{"yearly", func(t time.Time, _ int) int { return t.Year() }},
}

// Apply groups snaps by host and paths and decides for each snapshot whether
// p keeps it. Groups are ordered by host, then paths (compared element by
// element); each group's decisions are newest first, equal times by
// ascending ID. loc is the zone in which hours, days, weeks, months and years
// are bucketed (time.Local in the CLI); nil means UTC. Counts below -1 count
// as 0 (see [Policy.Validate]); an empty policy keeps everything. snaps is
// not modified.
func Apply(snaps []Snapshot, p Policy, loc *time.Location) []Group {
	if loc == nil {
		loc = time.UTC
	}
	type item struct {
		s     Snapshot
		paths []string
	}
	items := make([]item, len(snaps))
	for i, s := range snaps {
		var paths []string
		if len(s.Paths) > 0 {
			paths = slices.Clone(s.Paths)
			slices.Sort(paths)
		}
		items[i] = item{s, paths}
	}
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(
			strings.Compare(a.s.Host, b.s.Host),
			slices.Compare(a.paths, b.paths),
			b.s.Time.Compare(a.s.Time),
			strings.Compare(a.s.ID, b.s.ID),
		)
	})
	var groups []Group
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].s.Host == items[i].s.Host && slices.Equal(items[j].paths, items[i].paths) {
			j++
		}
		list := make([]Snapshot, 0, j-i)
		for _, it := range items[i:j] {
			list = append(list, it.s)
		}
		groups = append(groups, Group{Host: items[i].s.Host, Paths: items[i].paths, Decisions: decide(list, p, loc)})
		i = j
	}
	return groups
}

// decide applies p to one group's snapshots, sorted newest first.
func decide(list []Snapshot, p Policy, loc *time.Location) []Decision {
	ds := make([]Decision, len(list))
	for i, s := range list {
		ds[i].Snapshot = s
	}
	if p.Empty() {
		for i := range ds {
			ds[i].Keep, ds[i].Reasons = true, []string{"policy is empty"}
		}
		return ds
	}
	left := p.counts()
	var last [len(rules)]int
	var seen [len(rules)]bool
	cutoff := list[0].Time.Add(-p.Within)
	for nr, s := range list {
		t := s.Time.In(loc)
		var reasons []string
		for i, r := range rules {
			if !active(left[i]) {
				continue
			}
			v := r.bucket(t, nr)
			// The oldest snapshot is kept by every rule with count left.
			if seen[i] && v == last[i] && nr != len(list)-1 {
				continue
			}
			seen[i], last[i] = true, v
			if left[i] > 0 {
				left[i]--
			}
			reasons = append(reasons, r.name+" snapshot")
		}
		if p.Within > 0 && s.Time.After(cutoff) {
			reasons = append(reasons, "within "+shortDuration(p.Within))
		}
		for _, tag := range p.Tags {
			if slices.Contains(s.Tags, tag) {
				reasons = append(reasons, "tag "+tag)
			}
		}
		ds[nr].Keep, ds[nr].Reasons = len(reasons) > 0, reasons
	}
	return ds
}

// shortDuration is d.String() without trailing zero units: "72h", "1h30m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
