package daemon

import (
	"context"

	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/dashboard"
	"github.com/murmur-cloud/murmur/metrics"
	"github.com/murmur-cloud/murmur/node"
)

// The daemon's node as a source of Prometheus metrics (package metrics):
// the figures `murmur status` and the dashboard show, read at scrape
// time.

// MetricsConfig configures the daemon's metrics source. Drives and
// Backups, if set, list the node's mounted drives and scheduled backups,
// which live above the daemon (in the commands), as for the dashboard.
type MetricsConfig struct {
	Drives  func(context.Context) []dashboard.Drive
	Backups func() []dashboard.Backup
}

// NodeFigures returns the figures of n alone: its store, traffic,
// gossip, repairs and audits, but no code, catalog, drives or jobs (a
// worker node of `murmur up`).
func NodeFigures(n *node.Node) *metrics.Figures {
	in, out := n.Traffic()
	g := n.GossipStatus()
	r := n.RepairStatus()
	a := n.AuditStatus()
	slots, _ := n.ComputeConfig()
	return &metrics.Figures{
		Shards: n.Shards(), StoredBytes: n.Store().Used(), QuotaBytes: n.Store().Capacity(), Peers: len(n.Peers()),
		ReceivedBytes: in, SentBytes: out,
		Gossip: metrics.Gossip{Cycles: g.Cycles, Size: g.Size, Capacity: g.Capacity, Free: g.Free, Stored: g.Stored},
		Repairs: metrics.Repairs{
			Stripes: r.Stripes, Health: r.Health, BelowK: r.BelowK, Backlog: r.Backlog, Running: r.Running,
			Done: int64(r.Done), Failed: int64(r.Failed), Aborted: int64(r.Aborted), Rebuilt: int64(r.Rebuilt),
			BytesIn: r.BytesIn, BytesOut: r.BytesOut,
		},
		Audits: metrics.Audits{
			Passed: a.Passed, Failed: a.Failed, Missing: a.Missing, TimedOut: a.TimedOut,
			Scrubbed: a.Scrubbed, ScrubCorrupt: a.ScrubCorrupt, ScrubMissing: a.ScrubMissing,
		},
		ComputeSlots: slots, ComputeSlotsFree: min(n.ComputeFree(), slots),
	}
}

// MetricsSource returns the daemon's node as a metrics source: its
// NodeFigures and the code the next file gets, the catalog's lease
// renewals, the jobs it owns, and cfg's drives and backups.
func (s *Server) MetricsSource(cfg MetricsConfig) metrics.Source {
	return metrics.SourceFunc(func(ctx context.Context) *metrics.Figures {
		f := NodeFigures(s.n)
		if c, err := s.codeFrom(s.n.GossipStatus()); err == nil {
			f.Code = &metrics.Code{K: c.K, M: c.M}
		}
		s.mu.Lock()
		leases := s.renewed
		s.mu.Unlock()
		f.Leases = &leases
		jobs := &metrics.Jobs{States: map[string]int{}}
		if o := s.jobs.made(); o != nil {
			for _, j := range o.Jobs() {
				addJob(jobs, j)
			}
		}
		f.Jobs = jobs
		if cfg.Drives != nil {
			for _, d := range cfg.Drives(ctx) {
				f.Drives = append(f.Drives, metrics.Drive{PendingBytes: d.PendingBytes, PendingFiles: d.PendingFiles})
			}
		}
		if cfg.Backups != nil {
			for _, b := range cfg.Backups() {
				f.Backups = append(f.Backups, metrics.Backup{Name: b.Name, Running: b.Running, LastStart: b.LastStart, LastOK: b.LastOK, Failing: b.LastError != ""})
			}
		}
		return f
	})
}

func addJob(js *metrics.Jobs, j compute.JobStatus) {
	js.States[j.State]++
	js.Tasks += j.Tasks
	js.Done += j.Done
	js.Local += j.Local
	js.Verified += j.Verified
	js.Runs += j.Runs
}
