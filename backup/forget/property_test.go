package forget_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/backup/forget"
)

const runs = 500

// randSnaps returns 1..60 snapshots of two hosts and two path sets over a
// random span from hours to three years; about one in eight repeats an
// earlier time, so ties are common.
func randSnaps(r *rand.Rand) []forget.Snapshot {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	span := []time.Duration{6 * time.Hour, 10 * 24 * time.Hour, 400 * 24 * time.Hour, 3 * 365 * 24 * time.Hour}[r.IntN(4)]
	pathsets := [][]string{{"/home"}, {"/etc", "/home"}}
	snaps := make([]forget.Snapshot, 1+r.IntN(60))
	for i := range snaps {
		tm := base.Add(time.Duration(r.Int64N(int64(span))))
		if i > 0 && r.IntN(8) == 0 {
			tm = snaps[r.IntN(i)].Time
		}
		snaps[i] = forget.Snapshot{
			ID:    fmt.Sprintf("s%02d", i),
			Time:  tm,
			Host:  []string{"alpha", "beta"}[r.IntN(2)],
			Paths: pathsets[r.IntN(2)],
			Tags:  randTags(r),
		}
	}
	return snaps
}

func randTags(r *rand.Rand) []string {
	var tags []string
	for _, t := range []string{"a", "b", "c"} {
		if r.IntN(3) == 0 {
			tags = append(tags, t)
		}
	}
	return tags
}

func randCount(r *rand.Rand) int { return []int{0, 0, 0, 1, 2, 3, 5, -1}[r.IntN(8)] }

func randPolicy(r *rand.Rand) forget.Policy {
	return forget.Policy{
		Last: randCount(r), Hourly: randCount(r), Daily: randCount(r), Weekly: randCount(r),
		Monthly: randCount(r), Yearly: randCount(r),
		Within: []time.Duration{0, 0, time.Hour, 36 * time.Hour, 30 * 24 * time.Hour}[r.IntN(5)],
		Tags:   randTags(r),
	}
}

// smaller returns a policy whose every count is at most p's (-1 being the
// largest), with a Within at most p's and a subset of p's tags.
func smaller(r *rand.Rand, p forget.Policy) forget.Policy {
	c := func(n int) int {
		if n == -1 {
			return r.IntN(7) - 1
		}
		return r.IntN(n + 1)
	}
	q := forget.Policy{
		Last: c(p.Last), Hourly: c(p.Hourly), Daily: c(p.Daily), Weekly: c(p.Weekly),
		Monthly: c(p.Monthly), Yearly: c(p.Yearly),
		Within: time.Duration(r.Int64N(int64(p.Within) + 1)),
	}
	for _, t := range p.Tags {
		if r.IntN(2) == 0 {
			q.Tags = append(q.Tags, t)
		}
	}
	return q
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestPropSmallerPolicyKeepsSubset: lowering counts never keeps more. An empty
// smaller policy is skipped, as Apply keeps everything for it.
func TestPropSmallerPolicyKeepsSubset(t *testing.T) {
	loc := berlin(t)
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 1))
		snaps, p := randSnaps(r), randPolicy(r)
		q := smaller(r, p)
		if q.Empty() {
			continue
		}
		big := keptIDs(forget.Apply(snaps, p, loc))
		for _, id := range keptIDs(forget.Apply(snaps, q, loc)) {
			if !slices.Contains(big, id) {
				t.Fatalf("seed %d: %s kept by %+v but not by %+v", seed, id, q, p)
			}
		}
	}
}

// TestPropDeterministicOrderIndependent: the same snapshots in any order give
// the same groups, and the input is left alone.
func TestPropDeterministicOrderIndependent(t *testing.T) {
	loc := berlin(t)
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 2))
		snaps, p := randSnaps(r), randPolicy(r)
		orig := slices.Clone(snaps)
		want := forget.Apply(snaps, p, loc)
		if !reflect.DeepEqual(snaps, orig) {
			t.Fatalf("seed %d: Apply modified its input", seed)
		}
		r.Shuffle(len(snaps), func(i, j int) { snaps[i], snaps[j] = snaps[j], snaps[i] })
		if got := forget.Apply(snaps, p, loc); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: shuffled input gave\n%+v\nwant\n%+v", seed, got, want)
		}
	}
}

// TestPropNewestKept: a policy with a count rule keeps each group's newest.
func TestPropNewestKept(t *testing.T) {
	loc := berlin(t)
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 3))
		snaps, p := randSnaps(r), randPolicy(r)
		if c := []*int{&p.Last, &p.Hourly, &p.Daily, &p.Weekly, &p.Monthly, &p.Yearly}[r.IntN(6)]; *c == 0 {
			*c = 1
		}
		for _, g := range forget.Apply(snaps, p, loc) {
			first := g.Decisions[0]
			for _, d := range g.Decisions[1:] {
				if d.Snapshot.Time.After(first.Snapshot.Time) {
					t.Fatalf("seed %d: %s newer than the first, %s", seed, d.Snapshot.ID, first.Snapshot.ID)
				}
			}
			if !first.Keep {
				t.Fatalf("seed %d: newest %s of %s %v removed by %+v", seed, first.Snapshot.ID, g.Host, g.Paths, p)
			}
		}
	}
}

// TestPropDailyUnlimitedOnePerDay: Daily -1 keeps exactly the newest snapshot
// of each local day, and also the group's oldest (restic's rule for a count
// left over at the oldest snapshot).
func TestPropDailyUnlimitedOnePerDay(t *testing.T) {
	loc := berlin(t)
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 4))
		for _, g := range forget.Apply(randSnaps(r), forget.Policy{Daily: -1}, loc) {
			seen := map[string]bool{}
			for i, d := range g.Decisions {
				day := d.Snapshot.Time.In(loc).Format(time.DateOnly)
				want := !seen[day] || i == len(g.Decisions)-1
				seen[day] = true
				if d.Keep != want {
					t.Fatalf("seed %d: %s on %s kept %v, want %v", seed, d.Snapshot.ID, day, d.Keep, want)
				}
			}
		}
	}
}

// TestPropReferenceModel compares Apply's reasons with a model written
// differently: a count rule with count n keeps the newest snapshot of each of
// the first n distinct buckets, and the oldest snapshot if n is -1 or exceeds
// the number of distinct buckets before it.
func TestPropReferenceModel(t *testing.T) {
	loc := berlin(t)
	buckets := []struct {
		name string
		f    func(time.Time, int) string
	}{
		{"last", func(_ time.Time, i int) string { return fmt.Sprint(i) }},
		{"hourly", func(t time.Time, _ int) string { return t.Format("2006-01-02 15") }},
		{"daily", func(t time.Time, _ int) string { return t.Format(time.DateOnly) }},
		{"weekly", func(t time.Time, _ int) string { y, w := t.ISOWeek(); return fmt.Sprint(y, w) }},
		{"monthly", func(t time.Time, _ int) string { return t.Format("2006-01") }},
		{"yearly", func(t time.Time, _ int) string { return t.Format("2006") }},
	}
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 5))
		snaps, p := randSnaps(r), randPolicy(r)
		if p.Empty() {
			continue
		}
		counts := []int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly}
		for _, g := range forget.Apply(snaps, p, loc) {
			ds := g.Decisions
			want := make([][]string, len(ds))
			for k, b := range buckets {
				n := counts[k]
				first := map[string]int{} // bucket -> index of its newest snapshot
				var order []string
				for i, d := range ds {
					key := b.f(d.Snapshot.Time.In(loc), i)
					if _, ok := first[key]; !ok {
						first[key] = i
						order = append(order, key)
					}
				}
				keep := map[int]bool{}
				for j, key := range order {
					if n == -1 || j < n {
						keep[first[key]] = true
					}
				}
				oldest := len(ds) - 1
				before := len(order)
				if first[order[len(order)-1]] == oldest {
					before--
				}
				if n == -1 || n > before {
					keep[oldest] = true
				}
				for i := range ds {
					if keep[i] {
						want[i] = append(want[i], b.name+" snapshot")
					}
				}
			}
			newest := ds[0].Snapshot.Time
			for i, d := range ds {
				if p.Within > 0 && newest.Sub(d.Snapshot.Time) < p.Within {
					want[i] = append(want[i], "within "+forget.ShortDuration(p.Within))
				}
				for _, tag := range p.Tags {
					if slices.Contains(d.Snapshot.Tags, tag) {
						want[i] = append(want[i], "tag "+tag)
					}
				}
				if d.Keep != (len(want[i]) > 0) || !slices.Equal(d.Reasons, want[i]) {
					t.Fatalf("seed %d, %+v: %s kept %v %q, model %q", seed, p, d.Snapshot.ID, d.Keep, d.Reasons, want[i])
				}
			}
		}
	}
}
