package sim_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/gossip/sim"
)

// TestScenariosRun runs every named scenario at a small size and checks
// that it measures what it is for.
func TestScenariosRun(t *testing.T) {
	for _, name := range sim.ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			sc := sim.Scenarios[name]
			sc.Nodes = min(sc.Nodes, 2000)
			if sc.JoinRate > 0 {
				sc.JoinRate = 10
			}
			var out bytes.Buffer
			cycles := 0
			sum, err := sc.Run(context.Background(), &out, func(sim.CycleStats) { cycles++ })
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&out).ReadAll()
			if err != nil || len(rows) != sc.Cycles || cycles != sc.Cycles-1 {
				t.Fatalf("%d CSV rows (%v), %d callbacks, for %d cycles", len(rows), err, cycles, sc.Cycles)
			}
			if len(sum.Figures) == 0 {
				t.Fatal("no figures")
			}
			for _, f := range sum.Figures {
				t.Logf("%s: %s (published: %s)", f.Name, f.Measured, f.Published)
				if f.Measured == "" || f.Published == "" {
					t.Fatalf("figure %+v", f)
				}
			}
		})
	}
}

func TestScenarioCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sc := sim.Scenarios["counting"]
	sc.Nodes = 1000
	n := 0
	_, err := sc.Run(ctx, nil, func(sim.CycleStats) {
		if n++; n == 3 {
			cancel()
		}
	})
	if err != context.Canceled || n != 3 {
		t.Fatalf("after cancel: %d cycles, %v", n, err)
	}
}

func TestParseScenario(t *testing.T) {
	good := `{"name":"x","nodes":100,"cycles":10,"session":{"kind":"exp","mean":20},"zones":2,"events":[{"cycle":5,"kind":"zone","zone":1}]}`
	if _, err := sim.ParseScenario(strings.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"nodes":100,"cycles":10,"colour":"red"}`,
		`{"nodes":1,"cycles":10}`,
		`{"nodes":100,"cycles":0}`,
		`{"nodes":100,"cycles":10,"session":{"kind":"weibull"}}`,
		`{"nodes":100,"cycles":10,"session":{"kind":"exp","mean":0}}`,
		`{"nodes":100,"cycles":10,"events":[{"cycle":5,"kind":"crash","fraction":1.5}]}`,
		`{"nodes":100,"cycles":10,"events":[{"cycle":5,"kind":"zone","zone":3}]}`,
		`{"nodes":100,"cycles":10,"events":[{"cycle":5,"kind":"flood"}]}`,
		`{"nodes":100,`,
		`{"nodes":100,"cycles":10,"figures":["speed"]}`,
	} {
		if _, err := sim.ParseScenario(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(`{"name":"x","nodes":100,"cycles":10,"loss":0.2,"session":{"kind":"pareto","shape":1.5,"min":10}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := sim.ParseScenario(bytes.NewReader(b))
		if err == nil && sc.Validate() != nil {
			t.Fatal("a parsed scenario does not validate")
		}
	})
}
