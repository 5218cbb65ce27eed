package sim

import (
	"fmt"
	"math"
	"slices"
)

// meter measures a scenario's run and turns it into figures beside the
// published ones.
type meter struct {
	sc  Scenario
	s   *Sim
	log []CycleStats

	randomInDeg float64 // in-degree std of the random start
	crashAt     int     // cycle of the last failure event, -1 if none
	crashKilled int
	sizeBefore  int
}

func newMeter(sc Scenario, s *Sim) *meter {
	return &meter{sc: sc, s: s, randomInDeg: s.InDegrees().Std, crashAt: -1}
}

func (m *meter) event(e Event) {
	m.sizeBefore = len(m.s.Live())
	switch e.Kind {
	case "crash":
		m.crashKilled = m.s.KillFraction(e.Fraction)
	case "zone":
		m.crashKilled = m.s.KillZone(e.Zone)
	}
	m.crashAt = e.Cycle
}

func (m *meter) measure() CycleStats {
	s := m.s
	size, last := s.SizeEstimates(true), s.SizeEstimates(false)
	st := CycleStats{
		Cycle: s.Cycle(), Live: len(s.Live()),
		SizeMin: size.Min, SizeMean: size.Mean, SizeMax: size.Max,
		LastMin: last.Min, LastMean: last.Mean, LastMax: last.Max,
		Variance: s.Variance(0), DeadLinks: s.DeadLinks(), InDegStd: s.InDegrees().Std,
	}
	if m.sc.Slices > 0 {
		_, st.Disorder = s.SliceDisorder(m.sc.Slices)
	}
	if m.sc.TopK > 0 {
		st.TopKReach = s.TopKReached()
	}
	if m.crashAt >= 0 {
		st.Components, _ = s.Components()
	}
	m.log = append(m.log, st)
	return st
}

// epochCycles returns the scenario's epoch length.
func (m *meter) epochCycles() int { return m.s.cfg.Agg.EpochCycles }

func (m *meter) figures() []Figure {
	var out []Figure
	kind := ""
	add := func(name, measured, published string) {
		if len(m.sc.Figures) == 0 || slices.Contains(m.sc.Figures, kind) {
			out = append(out, Figure{Name: name, Measured: measured, Published: published})
		}
	}
	sc, log := m.sc, m.log
	if len(log) == 0 {
		return nil
	}
	last := log[len(log)-1]

	// Averaging: the variance factor over the first cycles of an epoch
	// with no failure.
	kind = "variance"
	if n := min(15, len(log)-1, m.epochCycles()-2); n >= 3 && m.crashAt < 0 && sc.Session.Kind == "" && log[0].Variance > 0 {
		g := math.Pow(log[n].Variance/log[0].Variance, 1/float64(n))
		p := sc.Loss
		want := (p + (1-p)/2) * math.Exp(-(1-p)/2)
		add("aggregation variance factor per cycle", fmt.Sprintf("%.3f", g),
			fmt.Sprintf("%.3f (1/(2·sqrt(e)) with %.0f%% of exchanges lost; Jelasity et al. 2005)", want, 100*p))
	}
	// Counting: the first cycle at which every node is within 1%.
	kind = "counting"
	if m.crashAt < 0 && sc.Session.Kind == "" && sc.JoinRate == 0 {
		at := -1
		for _, st := range log {
			if st.Cycle < m.epochCycles() && st.SizeMin >= 0.99*float64(st.Live) && st.SizeMax <= 1.01*float64(st.Live) {
				at = st.Cycle
				break
			}
		}
		measured := "not within 1% in the first epoch"
		if at >= 0 {
			measured = fmt.Sprintf("every node within 1%% after %d cycles", at)
		}
		add(fmt.Sprintf("size estimate at %d nodes", sc.Nodes), measured, "within 1% within 30 cycles, several instances combined")
	}
	// A crash: what the epoch of the crash and the next one estimated.
	kind = "failure"
	if m.crashAt >= 0 {
		after := m.sizeBefore - m.crashKilled
		add("nodes failed", fmt.Sprintf("%d of %d at cycle %d", m.crashKilled, m.sizeBefore, m.crashAt), "—")
		// Stats after cycle index i carry Cycle i+1; the epoch after the
		// failure's is published once the one after that starts.
		e := m.epochCycles()
		if st, ok := m.at((m.crashAt/e+1)*e + 1); ok {
			add("size estimate of the epoch the failure hit", fmt.Sprintf("%.0f..%.0f (%d live at its start, %d at its end)", st.LastMin, st.LastMax, m.sizeBefore, after), "tolerated: no estimate thrown off (Jelasity et al. 2005, 50% dying)")
		}
		if st, ok := m.at((m.crashAt/e+2)*e + 1); ok {
			add("size estimate of the next epoch", fmt.Sprintf("%.0f..%.0f of %d live", st.LastMin, st.LastMax, after), "the survivors counted")
		}
		purged := -1
		for _, st := range log {
			if st.Cycle > m.crashAt && st.DeadLinks == 0 {
				purged = st.Cycle - m.crashAt
				break
			}
		}
		measured := fmt.Sprintf("%d dead links left after %d cycles", last.DeadLinks, last.Cycle-m.crashAt)
		if purged >= 0 {
			measured = fmt.Sprintf("all purged in %d cycles", purged)
		}
		add("dead links after the failure", measured, "all purged within a few tens of cycles (Voulgaris et al. 2005)")
		add("connected components of the survivors", fmt.Sprint(last.Components), "1 (Cyclon keeps survivors of a 70% failure connected)")
	}
	kind = "indegree"
	if m.crashAt < 0 {
		add("Cyclon in-degree standard deviation", fmt.Sprintf("%.2f (random start %.2f)", last.InDegStd, m.randomInDeg),
			"about 1.5 against 4.5 for a random graph (view 20, shuffle 8, 10,000 nodes)")
	}
	kind = "slicing"
	if sc.Slices > 0 {
		add(fmt.Sprintf("slice disorder per node, %d slices", sc.Slices), fmt.Sprintf("%.3f after cycle 1, %.3f after cycle %d", log[0].Disorder, last.Disorder, last.Cycle),
			"falls toward zero for the ranking method (Fernández et al. 2007)")
	}
	kind = "topk"
	if sc.TopK > 0 {
		at := -1
		for _, st := range log {
			if st.TopKReach == 1 {
				at = st.Cycle
				break
			}
		}
		measured := fmt.Sprintf("%.1f%% of nodes after %d cycles", 100*last.TopKReach, last.Cycle)
		if at >= 0 {
			measured = fmt.Sprintf("every node after %d cycles", at)
		}
		add(fmt.Sprintf("top-%d reaches", sc.TopK), measured, fmt.Sprintf("about log3(N) = %.1f cycles", math.Log(float64(sc.Nodes))/math.Log(3)))
	}
	kind = "churn"
	if sc.Session.Kind != "" || sc.JoinRate > 0 {
		var errSum float64
		var n int
		e := m.epochCycles()
		for _, st := range log {
			// At the first cycle of an epoch, the last one's estimate
			// against the live count when it ended.
			if (st.Cycle-1)%e == 0 && st.Cycle-1 >= 2*e {
				if end, ok := m.at(st.Cycle - 1); ok {
					errSum += math.Abs(st.LastMean-float64(end.Live)) / float64(end.Live)
					n++
				}
			}
		}
		if n > 0 {
			add("size estimate under churn", fmt.Sprintf("mean error %.1f%% against the live count (%d at the end)", 100*errSum/float64(n), last.Live),
				"tracks the size epoch by epoch (Jelasity et al. 2005, §7)")
		}
	}
	return out
}

// at returns the stats of a cycle, if it ran.
func (m *meter) at(cycle int) (CycleStats, bool) {
	for _, st := range m.log {
		if st.Cycle == cycle {
			return st, true
		}
	}
	return CycleStats{}, false
}
