package sim_test

import (
	"context"
	"testing"

	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/repair/sim"
)

// BenchmarkRun times one world of each policy: 1,000 members and 10,000
// stripes, 30 simulated days (eager 5), one run per iteration. Simulated
// member-days per second are reported beside.
func BenchmarkRun(b *testing.B) {
	for _, c := range []struct {
		mode repair.Mode
		days int
	}{{repair.Off, 30}, {repair.Eager, 5}, {repair.Lazy, 30}} {
		b.Run(c.mode.String(), func(b *testing.B) {
			cfg := sim.Config{Mode: c.mode, Nodes: 1000, Stripes: 10000, Days: c.days, Seed: 1}
			var events int
			for b.Loop() {
				r, err := sim.Run(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				events = r.Events
			}
			b.ReportMetric(float64(events), "events/op")
		})
	}
}
