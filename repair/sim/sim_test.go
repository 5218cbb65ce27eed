package sim_test

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/repair/sim"
)

var long = flag.Bool("long", false, "run TestDurability at 1,000 members and 10,000 stripes (a few minutes) rather than 200 and 2,000")

// TestDurability: over a year of the default churn, lazy repair loses no
// stripe and moves less than eager repair (run for a few days: its traffic
// a month is steady after the warm-up, and it costs the most time), and
// with repair off stripes are lost. By default at 200 members and 2,000
// stripes (seconds); -long at 1,000 members and 10,000 stripes, as
// docs/sim.md records. The full size is `murmur sim --scenario durability`.
func TestDurability(t *testing.T) {
	cfg := sim.Config{Nodes: 200, Stripes: 2000, Days: 365, Seed: 1}
	eagerDays, minLost := 4, 10
	if *long {
		cfg = sim.Config{Nodes: 1000, Stripes: 10000, Days: 365, Seed: 1}
		eagerDays, minLost = 12, 100
	}
	start := time.Now()
	res, err := sim.Compare(context.Background(), cfg, eagerDays, 2)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sim.Report(&out, cfg, res, time.Since(start)); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	off, eager, lazy := res[0], res[1], res[2]
	if lazy.Lost != 0 {
		t.Errorf("lazy repair lost %d stripes", lazy.Lost)
	}
	if off.Lost < minLost {
		t.Errorf("with repair off only %d stripes were lost", off.Lost)
	}
	if !(lazy.PerMonth < eager.PerMonth/5) || lazy.PerMonth <= 0 {
		t.Errorf("lazy moves %.4f stored bytes a month, eager %.4f: want lazy well below", lazy.PerMonth, eager.PerMonth)
	}
	if eager.Lost != 0 {
		t.Errorf("eager repair lost %d stripes in %d days", eager.Lost, eager.Days)
	}
	if !strings.Contains(out.String(), "Total Recall") {
		t.Error("the report does not put the published comparison beside")
	}
}

// TestReplays: a seed replays the same run.
func TestReplays(t *testing.T) {
	cfg := sim.Config{Nodes: 200, Stripes: 500, Days: 20, Seed: 3}
	a, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Elapsed, b.Elapsed = 0, 0
	if *a != *b {
		t.Fatalf("two runs of one seed differ:\n%+v\n%+v", *a, *b)
	}
	if a.Repairs == 0 || a.Outages == 0 {
		t.Fatalf("the run did nothing: %+v", *a)
	}
}

func TestConfigChecked(t *testing.T) {
	for _, c := range []sim.Config{
		{Nodes: 5, Stripes: 10, Days: 1},
		{Nodes: 100, Stripes: 10, Days: 1, K: 4},
		{Nodes: 100, Stripes: 10, Days: 1, Churn: sim.Churn{DepartPerYear: 1.5}},
	} {
		if _, err := sim.Run(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestOffWithoutMachines: with repair off the simulator does not run the
// Machines (they would only watch); running them changes nothing.
func TestOffWithoutMachines(t *testing.T) {
	cfg := sim.Config{Mode: repair.Off, Nodes: 200, Stripes: 1000, Days: 200, Seed: 4, Churn: sim.Churn{DepartPerYear: 0.9}}
	a, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sim.Run(context.Background(), sim.WithOffMachines(cfg))
	if err != nil {
		t.Fatal(err)
	}
	a.Elapsed, b.Elapsed = 0, 0
	if *a != *b {
		t.Fatalf("with and without the Machines:\n%+v\n%+v", *a, *b)
	}
	if a.Lost == 0 || a.Departures == 0 {
		t.Fatalf("the run lost nothing: %+v", *a)
	}
}

// TestLateTellSameModel: telling the quiet Machines of an outage only once
// its grace is over (or once they are not quiet) gives the figures that
// telling every Machine at once gives: no stripe lost either way, and the
// repairs and their traffic over eight seeds within 5%. (Each seed's two
// worlds part ways at the first decision that differs, since churn and
// placement draw from one source, so single seeds differ by up to a tenth
// either way.)
func TestLateTellSameModel(t *testing.T) {
	var late, once struct {
		repairs int
		month   float64
		elapsed time.Duration
	}
	for seed := uint64(1); seed <= 8; seed++ {
		cfg := sim.Config{Mode: repair.Lazy, Nodes: 200, Stripes: 1000, Days: 150, Seed: seed}
		a, err := sim.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sim.Run(context.Background(), sim.WithTellAtOnce(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if a.Lost != 0 || b.Lost != 0 {
			t.Errorf("seed %d: %d stripes lost late, %d at once", seed, a.Lost, b.Lost)
		}
		late.repairs, late.month, late.elapsed = late.repairs+a.Repairs, late.month+a.PerMonth, late.elapsed+a.Elapsed
		once.repairs, once.month, once.elapsed = once.repairs+b.Repairs, once.month+b.PerMonth, once.elapsed+b.Elapsed
	}
	t.Logf("late: %d repairs, %.4f a month (sum of seeds), %v; at once: %d, %.4f, %v", late.repairs, late.month, late.elapsed, once.repairs, once.month, once.elapsed)
	near := func(a, b float64) bool { return a <= b*1.05 && b <= a*1.05 }
	if !near(float64(late.repairs), float64(once.repairs)) || !near(late.month, once.month) {
		t.Errorf("late %d repairs, %.4f a month; at once %d, %.4f", late.repairs, late.month, once.repairs, once.month)
	}
}
