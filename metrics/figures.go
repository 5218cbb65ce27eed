package metrics

import (
	"context"
	"time"
)

// Source gives the figures of one node at scrape time. Figures is called
// from the scraping goroutine, possibly concurrently with itself; it
// should answer quickly (the collector gives it ctx with a deadline) and
// never return nil.
type Source interface {
	Figures(ctx context.Context) *Figures
}

// SourceFunc is a function as a Source.
type SourceFunc func(ctx context.Context) *Figures

// Figures implements Source.
func (f SourceFunc) Figures(ctx context.Context) *Figures { return f(ctx) }

// Figures is one node's state at one moment. Counts since the node
// started are exported as counters; the rest as gauges. A nil pointer
// field is a part the node does not have (a worker node of `murmur up`
// has no catalog, drives or jobs): its series are left out.
type Figures struct {
	Shards      int64 // shards held for the cloud
	StoredBytes int64 // their bytes
	QuotaBytes  int64 // the node's quota; 0: none
	Peers       int   // members connected

	ReceivedBytes int64 // over libp2p since the node started, every protocol
	SentBytes     int64

	Gossip Gossip
	Code   *Code // nil: no code can be chosen yet

	Repairs Repairs
	Audits  Audits

	ComputeSlots     int // compute jobs the node offers to run at once
	ComputeSlotsFree int

	Leases  *Leases  // the catalog's lease renewals (a daemon's node)
	Drives  []Drive  // mounted drives
	Backups []Backup // scheduled backups
	Jobs    *Jobs    // compute jobs this node owns (a daemon's node)
}

// Gossip is gossip's estimates for the whole cloud.
type Gossip struct {
	Cycles   int64
	Size     float64 // members
	Capacity float64 // bytes they offer
	Free     float64 // bytes they can still take
	Stored   float64 // bytes they store
}

// Code is the erasure code the next file gets: K data and M parity
// shards a stripe.
type Code struct{ K, M int }

// Repairs is what the node's repairs of the stripes it holds see and did.
type Repairs struct {
	Stripes int
	// Health counts the stripes by how many of their shards are not
	// healthy: Health[0] whole, Health[1] one short, …
	Health  []int
	BelowK  int
	Backlog int
	Running int
	Done    int64
	Failed  int64
	Aborted int64
	Rebuilt int64 // shards placed
	// BytesIn were fetched from peers, BytesOut stored on peers.
	BytesIn, BytesOut int64
}

// Audits counts the node's audits of co-holders and scrubs of its own
// shards since it started.
type Audits struct {
	Passed, Failed, Missing, TimedOut int64
	Scrubbed, ScrubCorrupt            int64
	ScrubMissing                      int64
}

// Leases is the catalog's lease renewals since the daemon started.
type Leases struct {
	Runs                     int64     // renewal passes
	Renewed, Missing, Failed int64     // shards, summed over the passes
	Last                     time.Time // of the last pass; zero: none yet
}

// Drive is a mounted drive's uploads in waiting.
type Drive struct {
	PendingBytes int64
	PendingFiles int
}

// Backup is a scheduled backup, labelled by its name (which its owner
// chose, one a schedule).
type Backup struct {
	Name      string
	Running   bool
	LastStart time.Time // zero: never
	LastOK    time.Time
	Failing   bool // the last run failed
}

// Jobs is the compute jobs the node's owner keeps (running and the
// latest ended ones): how many are in each state, and their tasks.
type Jobs struct {
	States                map[string]int // running, done, failed, cancelled
	Tasks, Done           int            // tasks of the jobs kept, and of them done
	Local, Verified, Runs int
}
