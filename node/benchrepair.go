package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/repair"
)

// The repair bench's configuration: every node checks each peer every
// BenchCheckPeriod and counts it lost after BenchGrace away (both the
// same settings as `murmur node --repair-check-period --repair-grace`).
// The grace is the production floor (1 h) scaled to a second, the check
// period a twentieth of it (production: 10 min, a sixth of the floor), so
// detection adds little to the grace.
const (
	BenchGrace       = time.Second
	BenchCheckPeriod = 50 * time.Millisecond
)

// RepairResult is what BenchRepair measures: size random bytes put
// through a local cloud, one holder removed for good, and the cloud's
// repairs until every stripe is whole again.
type RepairResult struct {
	Nodes int   `json:"nodes"`
	Bytes int64 `json:"bytes"`
	K     int   `json:"k"`
	M     int   `json:"m"`
	// LostShards and LostBytes are what the removed node held.
	LostShards int   `json:"lost_shards"`
	LostBytes  int64 `json:"lost_bytes"`
	// The repair traffic, fetched and stored, and the bytes fetched per
	// byte rebuilt (k for a code that rebuilds one shard from k).
	RepairReadBytes    int64   `json:"repair_read_bytes"`
	RepairWrittenBytes int64   `json:"repair_written_bytes"`
	ReadAmplification  float64 `json:"read_amplification"`
	// DuplicateRepairs is the shards rebuilt beyond those lost (0: none
	// rebuilt twice).
	DuplicateRepairs int `json:"duplicate_repairs"`
	Repairs          int `json:"repairs"`
	Failed           int `json:"failed_repairs"`
	// RepairSeconds runs from the node's removal until every stripe is
	// whole again, GraceSeconds of it the grace before the node counts as
	// lost; RepairMBps is the lost bytes rebuilt per second after the
	// grace, and RepairRatio that against the put's rate.
	RepairSeconds float64 `json:"repair_seconds"`
	GraceSeconds  float64 `json:"grace_seconds"`
	// CheckPeriodSeconds is the nodes' check period: a node notices the
	// removal at its first check after it, so up to a period of
	// RepairSeconds is detection.
	CheckPeriodSeconds float64 `json:"check_period_seconds"`
	RepairMBps         float64 `json:"repair_MBps"`
	PutMBps            float64 `json:"put_MBps"`
	RepairRatio        float64 `json:"repair_ratio"`
	// RateCap is each node's repair cap (bytes/s; negative: none).
	RateCap int64 `json:"rate_cap"`
	// ReadableAfter reports whether the data read back whole after the
	// repairs.
	ReadableAfter bool `json:"readable_after"`
}

// BenchRepair starts a cloud of nodes in dir, on loopback, whose repairs
// check every BenchCheckPeriod and give a peer a grace of BenchGrace; puts size
// random bytes through the first node; removes for good the node, other
// than the first, that holds the most; and waits until every stripe is
// whole again on the others (at most timeout). rate is each node's repair
// cap (0: the default; negative: none). A non-nil profile gets a CPU
// profile of the repairs alone: from the removal until the stripes are
// whole.
func BenchRepair(ctx context.Context, dir string, nodes int, size, rate int64, timeout time.Duration, profile io.Writer) (*RepairResult, error) {
	if nodes < 3 {
		return nil, errors.New("node: a repair bench needs three nodes at least")
	}
	const grace = BenchGrace
	// A claim is sent again every Retry until a majority of the holders
	// grants it (each grants only once its own grace for the lost holder
	// ran out, which is a few milliseconds apart here): scaled like the
	// check period, or the default (ClaimTTL/8: 7.5 s) is most of what
	// the bench measures.
	rc := RepairConfig{Rate: rate, CheckTimeout: time.Second, Machine: repair.Config[peer.ID]{
		CheckPeriod: BenchCheckPeriod, ClaimTTL: time.Minute, Retry: 2 * BenchCheckPeriod,
		Grace: repair.GraceConfig{Min: grace, Default: grace, Max: grace},
	}}
	secret := NewCloudSecret()
	var ns []*Node
	defer func() {
		for _, n := range ns {
			n.Close()
		}
	}()
	for i := range nodes {
		n, err := New(Config{
			Dir: filepath.Join(dir, fmt.Sprintf("node-%d", i)), Secret: secret,
			GossipPeriod: LocalGossipPeriod, GossipEpoch: localGossipEpoch, Repair: rc,
		})
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	for i, a := range ns {
		for _, b := range ns[i+1:] {
			if err := a.Connect(ctx, b.AddrInfo()); err != nil {
				return nil, err
			}
		}
	}

	data := pipeline.BenchData(size, 11)
	var mk crypt.MasterKey
	copy(mk[:], data)
	cfg := pipeline.Config{Keys: mk.Keys(crypt.DriveID{2})}
	pl, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	m, err := pipeline.Write(ctx, cfg, ns[0].Cloud(pl), bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("bench put: %w", err)
	}
	put := time.Since(start)
	res := &RepairResult{Nodes: nodes, Bytes: size, PutMBps: float64(size) / 1e6 / put.Seconds(), GraceSeconds: grace.Seconds(), CheckPeriodSeconds: BenchCheckPeriod.Seconds(), RateCap: ns[0].RepairStatus().Rate}
	if len(m.Stripes) > 0 {
		res.K, res.M = m.Stripes[0].K, m.Stripes[0].M
	}

	// The victim: the node other than the writer holding the most.
	victim := -1
	for i, n := range ns[1:] {
		shards, b := 0, int64(0)
		err := n.Store().WalkHeld(ctx, func(h *badgerstore.Held) error {
			for _, j := range h.Shards {
				shards++
				b += int64(h.Record.Descriptor.Shards[j].Size)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if shards > res.LostShards {
			victim, res.LostShards, res.LostBytes = i+1, shards, b
		}
	}
	if victim < 0 {
		return nil, errors.New("node: no node but the writer holds shards")
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return nil, err
		}
	}
	ns[victim].Close()
	ns = append(ns[:victim:victim], ns[victim+1:]...)
	gone := time.Now()
	// Polled often, so the time measured is the repairs' and not the
	// poll's (at most 5 ms late).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		whole, rebuilt := true, 0
		for _, n := range ns {
			st := n.RepairStatus()
			whole = whole && st.whole()
			rebuilt += st.Rebuilt
		}
		if whole && rebuilt >= res.LostShards {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, fmt.Errorf("node: the stripes were not whole after %v: %d of %d shards rebuilt", timeout, rebuilt, res.LostShards)
		case <-tick.C:
		}
	}
	took := time.Since(gone)
	if profile != nil {
		pprof.StopCPUProfile()
	}
	res.RepairSeconds = took.Seconds()
	for _, n := range ns {
		st := n.RepairStatus()
		res.RepairReadBytes += st.BytesIn
		res.RepairWrittenBytes += st.BytesOut
		res.Repairs += st.Done
		res.Failed += st.Failed
		res.DuplicateRepairs += st.Rebuilt
	}
	res.DuplicateRepairs -= res.LostShards
	if res.LostBytes > 0 {
		res.ReadAmplification = float64(res.RepairReadBytes) / float64(res.LostBytes)
	}
	if d := took - grace; d > 0 {
		res.RepairMBps = float64(res.LostBytes) / 1e6 / d.Seconds()
	}
	res.RepairRatio = res.RepairMBps / res.PutMBps

	r, err := pipeline.NewReader(ctx, cfg, ns[len(ns)-1].Cloud(pl), m)
	if err == nil {
		var got bytes.Buffer
		_, err = r.WriteTo(&got)
		res.ReadableAfter = err == nil && bytes.Equal(got.Bytes(), data)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return res, fmt.Errorf("bench read back: %w", err)
	}
	return res, nil
}
