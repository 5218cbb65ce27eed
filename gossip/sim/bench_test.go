package sim_test

import (
	"runtime"
	"testing"

	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/gossip/sim"
)

// BenchmarkSim100k runs 100,000 nodes for 50 cycles of peer sampling,
// aggregation (counting plus two attributes), slicing and top-k, and
// reports node-cycles per second and heap bytes per node.
func BenchmarkSim100k(b *testing.B) { benchSim(b, 100000, 50) }

func BenchmarkSim20k(b *testing.B) { benchSim(b, 20000, 50) }

// BenchmarkSim1M is the same at a million nodes, for 10 cycles.
func BenchmarkSim1M(b *testing.B) { benchSim(b, 1000000, 10) }

func benchSim(b *testing.B, nodes, cycles int) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := sim.New(sim.Config{Nodes: nodes, Seed: 1, Agg: gossip.AggConfig{Attributes: 2}})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		s.Run(cycles)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(nodes), "heapB/node")
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(nodes*cycles)*float64(b.N)/b.Elapsed().Seconds(), "node-cycles/s")
}
