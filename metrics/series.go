package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The series read from Figures. Each has the label node first.
var (
	allDescs []*prometheus.Desc

	shards     = desc("murmur_store_shards", "Shards this node holds for the cloud.")
	stored     = desc("murmur_store_bytes", "Bytes of the shards this node holds.")
	quota      = desc("murmur_store_quota_bytes", "This node's quota for the cloud's shards; 0: none.")
	peers      = desc("murmur_peers", "Members this node is connected to.")
	received   = desc("murmur_network_received_bytes_total", "Bytes received over libp2p since the node started, every protocol.")
	sent       = desc("murmur_network_sent_bytes_total", "Bytes sent over libp2p since the node started, every protocol.")
	cycles     = desc("murmur_gossip_cycles_total", "Gossip cycles this node ran.")
	size       = desc("murmur_gossip_members", "The cloud's size as gossip estimates it (members; 0 before the first epoch).")
	capacity   = desc("murmur_gossip_capacity_bytes", "Bytes the members offer, as gossip estimates it.")
	free       = desc("murmur_gossip_free_bytes", "Bytes the members can still take, as gossip estimates it.")
	gstored    = desc("murmur_gossip_stored_bytes", "Bytes the members store, as gossip estimates it.")
	codeK      = desc("murmur_code_data_shards", "k: data shards a stripe of the next file gets (absent when no code can be chosen yet).")
	codeM      = desc("murmur_code_parity_shards", "m: parity shards a stripe of the next file gets (absent when no code can be chosen yet).")
	slots      = desc("murmur_compute_slots", "Compute jobs this node offers to run at once.")
	slotsFree  = desc("murmur_compute_slots_free", "Of them, free now.")
	rStripes   = desc("murmur_repair_stripes", "Stripes this node's repairs hold or watch.")
	rHealth    = desc("murmur_repair_stripes_by_health", "Those stripes by how many of their shards are not healthy (short=0: whole).", "short")
	rBelowK    = desc("murmur_repair_stripes_below_k", "Stripes with fewer than k healthy shards: not rebuildable until holders return.")
	rBacklog   = desc("murmur_repair_backlog", "Repairs waiting their turn.")
	rRunning   = desc("murmur_repair_running", "Repairs running.")
	rRepairs   = desc("murmur_repairs_total", "Repairs this node ended, by result (done: committed, failed, aborted).", "result")
	rRebuilt   = desc("murmur_repair_rebuilt_shards_total", "Shards this node's repairs placed.")
	rIn        = desc("murmur_repair_received_bytes_total", "Repair bytes fetched from peers.")
	rOut       = desc("murmur_repair_sent_bytes_total", "Repair bytes stored on peers.")
	audits     = desc("murmur_audits_total", "Audits of co-holders' shards, by result (passed, failed, missing, timed_out).", "result")
	scrubs     = desc("murmur_scrubs_total", "Own shards re-hashed by the scrubber.")
	scrubBad   = desc("murmur_scrub_failures_total", "Of them, not matching their ID (corrupt) or gone or short (missing).", "kind")
	lRuns      = desc("murmur_lease_renewals_total", "Passes renewing the leases of the catalog's shards.")
	lShards    = desc("murmur_lease_renewal_shards_total", "Shards of those passes, by result (renewed, missing: the holder no longer has it, failed: not reached).", "result")
	lLast      = desc("murmur_lease_last_renewal_timestamp_seconds", "When the last renewal pass ran (Unix time; 0: none yet).")
	dMounted   = desc("murmur_drives_mounted", "Drives mounted through this node.")
	dPending   = desc("murmur_drive_pending_bytes", "Bytes written to the mounted drives and not yet uploaded, all drives together.")
	dFiles     = desc("murmur_drive_pending_files", "Files of the mounted drives not yet uploaded, all drives together.")
	bScheduled = desc("murmur_backups_scheduled", "Backups scheduled on this node.")
	bRunning   = desc("murmur_backup_running", "1 while the backup runs.", "backup")
	bStart     = desc("murmur_backup_last_start_timestamp_seconds", "When the backup last started (Unix time; 0: never).", "backup")
	bOK        = desc("murmur_backup_last_success_timestamp_seconds", "When the backup last succeeded (Unix time; 0: never).", "backup")
	bFailing   = desc("murmur_backup_failing", "1 if the backup's last run failed.", "backup")
	jStates    = desc("murmur_compute_jobs", "Compute jobs this node owns, running or among the latest ended, by state.", "state")
	jTasks     = desc("murmur_compute_job_tasks", "Tasks of those jobs, by kind (all, done, local: read its chunk on its holder, verified: accepted on agreeing runs, runs: runs answered).", "kind")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, append([]string{"node"}, labels...), nil)
	allDescs = append(allDescs, d)
	return d
}

// jobStates are the states a job is in (compute.State…): each is
// exported, at zero if no job is in it.
var jobStates = []string{"running", "done", "failed", "cancelled"}

// emit sends f's series, labelled node.
func emit(ch chan<- prometheus.Metric, node string, f *Figures) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{node}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{node}, labels...)...)
	}
	gauge(shards, float64(f.Shards))
	gauge(stored, float64(f.StoredBytes))
	gauge(quota, float64(f.QuotaBytes))
	gauge(peers, float64(f.Peers))
	counter(received, float64(f.ReceivedBytes))
	counter(sent, float64(f.SentBytes))

	counter(cycles, float64(f.Gossip.Cycles))
	gauge(size, f.Gossip.Size)
	gauge(capacity, f.Gossip.Capacity)
	gauge(free, f.Gossip.Free)
	gauge(gstored, f.Gossip.Stored)
	if f.Code != nil {
		gauge(codeK, float64(f.Code.K))
		gauge(codeM, float64(f.Code.M))
	}
	gauge(slots, float64(f.ComputeSlots))
	gauge(slotsFree, float64(f.ComputeSlotsFree))

	r := f.Repairs
	gauge(rStripes, float64(r.Stripes))
	for short, n := range r.Health {
		gauge(rHealth, float64(n), strconv.Itoa(short))
	}
	gauge(rBelowK, float64(r.BelowK))
	gauge(rBacklog, float64(r.Backlog))
	gauge(rRunning, float64(r.Running))
	counter(rRepairs, float64(r.Done), "done")
	counter(rRepairs, float64(r.Failed), "failed")
	counter(rRepairs, float64(r.Aborted), "aborted")
	counter(rRebuilt, float64(r.Rebuilt))
	counter(rIn, float64(r.BytesIn))
	counter(rOut, float64(r.BytesOut))

	a := f.Audits
	counter(audits, float64(a.Passed), "passed")
	counter(audits, float64(a.Failed), "failed")
	counter(audits, float64(a.Missing), "missing")
	counter(audits, float64(a.TimedOut), "timed_out")
	counter(scrubs, float64(a.Scrubbed))
	counter(scrubBad, float64(a.ScrubCorrupt), "corrupt")
	counter(scrubBad, float64(a.ScrubMissing), "missing")

	if l := f.Leases; l != nil {
		counter(lRuns, float64(l.Runs))
		counter(lShards, float64(l.Renewed), "renewed")
		counter(lShards, float64(l.Missing), "missing")
		counter(lShards, float64(l.Failed), "failed")
		gauge(lLast, unix(l.Last))
	}

	var pending int64
	var files int
	for _, d := range f.Drives {
		pending += d.PendingBytes
		files += d.PendingFiles
	}
	gauge(dMounted, float64(len(f.Drives)))
	gauge(dPending, float64(pending))
	gauge(dFiles, float64(files))

	gauge(bScheduled, float64(len(f.Backups)))
	seen := map[string]bool{}
	for _, b := range f.Backups {
		if seen[b.Name] { // a name is one schedule; never two series alike
			continue
		}
		seen[b.Name] = true
		gauge(bRunning, bool01(b.Running), b.Name)
		gauge(bStart, unix(b.LastStart), b.Name)
		gauge(bOK, unix(b.LastOK), b.Name)
		gauge(bFailing, bool01(b.Failing), b.Name)
	}

	if j := f.Jobs; j != nil {
		for _, s := range jobStates {
			gauge(jStates, float64(j.States[s]), s)
		}
		gauge(jTasks, float64(j.Tasks), "all")
		gauge(jTasks, float64(j.Done), "done")
		gauge(jTasks, float64(j.Local), "local")
		gauge(jTasks, float64(j.Verified), "verified")
		gauge(jTasks, float64(j.Runs), "runs")
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}
