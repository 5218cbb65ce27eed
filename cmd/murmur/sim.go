package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/gossip/sim"
	"github.com/murmur-cloud/murmur/repair"
	repairsim "github.com/murmur-cloud/murmur/repair/sim"
)

func simCommand() *cli.Command {
	var (
		name, file, csvPath, session, crash, zoneFail string
		modes                                         string
		asJSON, quiet                                 bool
		every                                         int
		over                                          sim.Scenario
		dur                                           repairsim.Config
		eagerDays, parallel                           int
	)
	return &cli.Command{
		Name: "sim",
		Summary: "simulate the gossip protocols on a cloud of up to millions of nodes, or (durability) a year of repair; scenarios: " +
			strings.Join(append(sim.ScenarioNames(), "durability"), ", "),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "scenario", "counting", "a named scenario to start from")
			fs.StringVar(&file, "file", "", "a scenario in JSON (see docs/sim.md) instead of a named one")
			fs.IntVar(&over.Nodes, "nodes", 0, "nodes at the start")
			fs.IntVar(&over.Cycles, "cycles", 0, "cycles to run")
			fs.Uint64Var(&over.Seed, "seed", 0, "random seed (a run replays exactly)")
			fs.IntVar(&over.View, "view", 0, "Cyclon view size")
			fs.IntVar(&over.Shuffle, "shuffle", 0, "Cyclon shuffle length")
			fs.IntVar(&over.Epoch, "epoch", 0, "cycles per aggregation epoch")
			fs.IntVar(&over.Inst, "instances", 0, "counting instances per epoch")
			fs.Float64Var(&over.Loss, "loss", 0, "fraction of exchanges lost")
			fs.IntVar(&over.Slices, "slices", 0, "run slicing; measure disorder over this many slices")
			fs.IntVar(&over.TopK, "topk", 0, "run top-k queries of this k")
			fs.IntVar(&over.Zones, "zones", 0, "failure zones (node i is in zone i mod zones)")
			fs.Float64Var(&over.JoinRate, "join-rate", 0, "nodes joining per cycle (mean)")
			fs.StringVar(&session, "session", "", "session lengths: exp:MEAN or pareto:SHAPE:MIN (cycles)")
			fs.StringVar(&crash, "crash", "", "CYCLE:FRACTION: a random fraction of the nodes crashes at a cycle")
			fs.StringVar(&zoneFail, "zone-fail", "", "CYCLE:ZONE: every node of a zone crashes at a cycle")
			fs.StringVar(&csvPath, "csv", "", "write per-cycle figures to this CSV file")
			fs.IntVar(&every, "every", 1, "print every Nth cycle")
			fs.BoolVar(&quiet, "quiet", false, "print only the summary")
			fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
			fs.IntVar(&dur.Stripes, "stripes", 0, "durability: stripes stored")
			fs.IntVar(&dur.Days, "days", 0, "durability: days simulated")
			fs.IntVar(&eagerDays, "eager-days", repairsim.DurabilityEagerDays, "durability: days of eager repair (0: as many as --days)")
			fs.IntVar(&parallel, "parallel", 2, "durability: policies simulated at once")
			fs.StringVar(&modes, "modes", "off,eager,lazy", "durability: the repair policies to run, comma-separated")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			if fs.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fs.Arg(0))
			}
			if name == "durability" && file == "" {
				return runDurability(ctx, fs, out, over, dur, modes, eagerDays, parallel, asJSON)
			}
			sc, err := baseScenario(name, file)
			if err != nil {
				return err
			}
			set := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
			if err := overrideScenario(&sc, over, set, session, crash, zoneFail); err != nil {
				return err
			}
			var csvOut io.Writer
			if csvPath != "" {
				f, err := os.Create(csvPath)
				if err != nil {
					return err
				}
				defer f.Close()
				csvOut = f
			}
			if !asJSON {
				fmt.Fprintf(out, "sim %s: %d nodes, %d cycles, seed %d\n", sc.Name, sc.Nodes, sc.Cycles, sc.Seed)
			}
			each := func(st sim.CycleStats) {
				if quiet || asJSON || every < 1 || st.Cycle%every != 0 {
					return
				}
				fmt.Fprintf(out, "cycle %4d  live %7d  size %9.1f..%-9.1f last %9.1f  var %9.3g  dead %6d  indeg-std %5.2f",
					st.Cycle, st.Live, st.SizeMin, st.SizeMax, st.LastMean, st.Variance, st.DeadLinks, st.InDegStd)
				if sc.Slices > 0 {
					fmt.Fprintf(out, "  disorder %.3f", st.Disorder)
				}
				if sc.TopK > 0 {
					fmt.Fprintf(out, "  topk %5.1f%%", 100*st.TopKReach)
				}
				if st.Components > 0 {
					fmt.Fprintf(out, "  components %d", st.Components)
				}
				fmt.Fprintln(out)
			}
			sum, err := sc.Run(ctx, csvOut, each)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(sum)
			}
			fmt.Fprintf(out, "\n%d nodes × %d cycles in %.1f s (%.0f node-cycles/s)\n\n", sc.Nodes, sum.Cycles, sum.Elapsed.Seconds(),
				float64(sc.Nodes)*float64(sum.Cycles)/sum.Elapsed.Seconds())
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FIGURE\tMEASURED\tPUBLISHED")
			for _, f := range sum.Figures {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.Measured, f.Published)
			}
			return tw.Flush()
		},
	}
}

func baseScenario(name, file string) (sim.Scenario, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return sim.Scenario{}, err
		}
		defer f.Close()
		return sim.ParseScenario(f)
	}
	sc, ok := sim.Scenarios[name]
	if !ok {
		return sc, fmt.Errorf("%w: no scenario %q (there are %s)", cli.ErrUsage, name, strings.Join(sim.ScenarioNames(), ", "))
	}
	return sc, nil
}

// overrideScenario applies the flags that were set.
func overrideScenario(sc *sim.Scenario, o sim.Scenario, set map[string]bool, session, crash, zoneFail string) error {
	modified := session != "" || crash != "" || zoneFail != ""
	for flagName, apply := range map[string]func(){
		"nodes": func() { sc.Nodes = o.Nodes }, "cycles": func() { sc.Cycles = o.Cycles }, "seed": func() { sc.Seed = o.Seed },
		"view": func() { sc.View = o.View }, "shuffle": func() { sc.Shuffle = o.Shuffle }, "epoch": func() { sc.Epoch = o.Epoch },
		"instances": func() { sc.Inst = o.Inst }, "loss": func() { sc.Loss = o.Loss }, "slices": func() { sc.Slices = o.Slices },
		"topk": func() { sc.TopK = o.TopK }, "zones": func() { sc.Zones = o.Zones }, "join-rate": func() { sc.JoinRate = o.JoinRate },
	} {
		if set[flagName] {
			apply()
			modified = true
		}
	}
	if session != "" {
		f := strings.Split(session, ":")
		nums := make([]float64, len(f)-1)
		for i, s := range f[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("%w: --session %q: %v", cli.ErrUsage, session, err)
			}
			nums[i] = v
		}
		switch {
		case f[0] == "exp" && len(nums) == 1:
			sc.Session = sim.Session{Kind: "exp", Mean: nums[0]}
		case f[0] == "pareto" && len(nums) == 2:
			sc.Session = sim.Session{Kind: "pareto", Shape: nums[0], Min: nums[1]}
		default:
			return fmt.Errorf("%w: --session %q: want exp:MEAN or pareto:SHAPE:MIN", cli.ErrUsage, session)
		}
	}
	for _, ev := range []struct{ flag, val, kind string }{{"crash", crash, "crash"}, {"zone-fail", zoneFail, "zone"}} {
		if ev.val == "" {
			continue
		}
		c, v, ok := strings.Cut(ev.val, ":")
		cycle, err1 := strconv.Atoi(c)
		x, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("%w: --%s %q: want CYCLE:VALUE", cli.ErrUsage, ev.flag, ev.val)
		}
		e := sim.Event{Cycle: cycle, Kind: ev.kind}
		if ev.kind == "zone" {
			e.Zone = int(x)
		} else {
			e.Fraction = x
		}
		sc.Events = append(sc.Events, e)
	}
	if modified {
		sc.Name += " (modified)"
	}
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	return nil
}

// runDurability runs the durability scenario: repair off, eager and lazy
// on the same simulated cloud.
func runDurability(ctx context.Context, fs *flag.FlagSet, out io.Writer, over sim.Scenario, dur repairsim.Config, modeList string, eagerDays, parallel int, asJSON bool) error {
	cfg := repairsim.Durability
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "nodes":
			cfg.Nodes = over.Nodes
		case "seed":
			cfg.Seed = over.Seed
		case "stripes":
			cfg.Stripes = dur.Stripes
		case "days":
			cfg.Days = dur.Days
		}
	})
	if eagerDays < 0 || parallel < 1 {
		return fmt.Errorf("%w: --eager-days %d, --parallel %d", cli.ErrUsage, eagerDays, parallel)
	}
	var modes []repair.Mode
	for _, s := range strings.Split(modeList, ",") {
		m, err := repair.ParseMode(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%w: --modes: %v", cli.ErrUsage, err)
		}
		modes = append(modes, m)
	}
	if !asJSON {
		fmt.Fprintf(out, "sim durability: %d members, %d stripes, %d days (eager %d), seed %d\n", cfg.Nodes, cfg.Stripes, cfg.Days, min(max(eagerDays, 1), cfg.Days), cfg.Seed)
	}
	start := time.Now()
	res, err := repairsim.CompareModes(ctx, cfg, modes, eagerDays, parallel)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if asJSON {
		return json.NewEncoder(out).Encode(map[string]any{"config": cfg, "results": res, "published": repairsim.TotalRecall})
	}
	return repairsim.Report(out, cfg, res, time.Since(start))
}
