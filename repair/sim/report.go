package sim

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Durability is the named scenario of `murmur sim --scenario durability`:
// 10,000 members and 100,000 stripes over a year of the default Churn.
var Durability = Config{Nodes: 10000, Stripes: 100000, Days: 365, Seed: 1}

// DurabilityEagerDays is how long the scenario runs eager repair (see
// Compare).
const DurabilityEagerDays = 30

// TotalRecall is Total Recall's published comparison of the same policies
// (Bhagwan et al., NSDI 2004, its trace-driven simulation of Overnet hosts).
const TotalRecall = "eager repair (on every departure a check sees) costs far more bandwidth than lazy repair with erasure codes, which repairs only at its threshold and masks transient departures with the redundancy beyond it; both keep the availability target (Total Recall, NSDI 2004)"

// Report prints the comparison.
func Report(w io.Writer, cfg Config, res []*Result, elapsed time.Duration) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	ch := cfg.Churn
	r0 := res[0]
	fmt.Fprintf(w, "durability: %d members, %d stripes of k=%d m=%d (%d MiB shards), seed %d, in %.0f s\n", cfg.Nodes, cfg.Stripes, r0.K, r0.M, cfg.ShardSize>>20, cfg.Seed, elapsed.Seconds())
	fmt.Fprintf(w, "  code: %s\n", r0.Why)
	fmt.Fprintf(w, "  churn: availability Beta(%.3g,1) (mean %.3f); sessions and outages Weibull shape %.2g, %.0f outages a member-year; %.0f%% of members leave a year, replaced by newcomers; checks every %v; traffic counted after a %d-day warm-up\n",
		ch.AvailShape, r0.MeanAvail, ch.SessionShape, ch.OutagesPerYear, 100*ch.DepartPerYear, cfg.CheckPeriod, cfg.WarmupDays)
	fmt.Fprintf(w, "  lazy threshold %d, urgent %d healthy shards (at the reliable slice's mean availability)\n\n", r0.Lazy, r0.Urgent)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPAIR\tDAYS\tSTRIPES LOST\tREPAIR BYTES / STORED BYTE / MONTH\tREPAIRS\tSHARDS REBUILT\tDEPARTURES\tRUN")
	for _, r := range res {
		fmt.Fprintf(tw, "%v\t%d\t%d of %d\t%.4f\t%d\t%d\t%d\t%.0f s\n", r.Mode, r.Days, r.Lost, cfg.Stripes, r.PerMonth, r.Repairs, r.Rebuilt, r.Departures, r.Elapsed.Seconds())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\npublished: %s\n", TotalRecall)
	return err
}
