package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// BenchResult is what Bench measures: the write path (chunk, ID, seal,
// pack, encode, shard IDs) and the read path (fetch, verify, open) over the
// same random bytes, against single-core AES-256-GCM over those bytes
// measured in the same run, so the ratios hold on a noisy shared machine.
type BenchResult struct {
	Bytes        int64   `json:"bytes"`
	K            int     `json:"k"`
	M            int     `json:"m"`
	Workers      int     `json:"workers"`
	WriteMBps    float64 `json:"write_MBps"`
	ReadMBps     float64 `json:"read_MBps"`
	BaselineMBps float64 `json:"baseline_MBps"`
	WriteRatio   float64 `json:"write_ratio"`
	ReadRatio    float64 `json:"read_ratio"`
	// CPU time of the whole process per byte written or read, in the
	// round that counted (user and system, all threads).
	WriteCPUNsPerByte float64 `json:"write_cpu_ns_per_byte"`
	ReadCPUNsPerByte  float64 `json:"read_cpu_ns_per_byte"`
}

// BenchData returns n seeded random bytes.
func BenchData(n int64, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	rand.NewChaCha8(s).Read(b)
	return b
}

// Bench measures the pipeline over data with cfg (Keys may be nil: a
// random drive is used). Each figure is the best of rounds runs,
// interleaved so that a burst of load elsewhere hits all three alike.
func Bench(ctx context.Context, cfg Config, data []byte, rounds int) (*BenchResult, error) {
	if cfg.Keys == nil {
		cfg.Keys = crypt.NewMasterKey().Keys(crypt.NewDriveID())
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rounds = max(rounds, 1)
	var write, read, base, writeCPU, readCPU time.Duration
	for range rounds {
		sink := newSink()
		start, cpu := time.Now(), CPUTime()
		m, err := Write(ctx, cfg, sink, bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("bench write: %w", err)
		}
		if d := time.Since(start); write == 0 || d < write {
			write, writeCPU = d, CPUTime()-cpu
		}

		start, cpu = time.Now(), CPUTime()
		r, err := NewReader(ctx, cfg, sink, m)
		if err != nil {
			return nil, err
		}
		if n, err := r.WriteTo(io.Discard); err != nil || n != int64(len(data)) {
			return nil, fmt.Errorf("bench read: %d of %d bytes: %v", n, len(data), err)
		}
		if d := time.Since(start); read == 0 || d < read {
			read, readCPU = d, CPUTime()-cpu
		}

		start = time.Now()
		crypt.BaselinePass(data)
		base = best(base, time.Since(start))
	}
	mbps := func(d time.Duration) float64 { return float64(len(data)) / 1e6 / d.Seconds() }
	res := &BenchResult{
		Bytes: int64(len(data)), K: cfg.K, M: cfg.M, Workers: cfg.Workers,
		WriteMBps: mbps(write), ReadMBps: mbps(read), BaselineMBps: mbps(base),
	}
	res.WriteRatio = res.WriteMBps / res.BaselineMBps
	res.ReadRatio = res.ReadMBps / res.BaselineMBps
	res.WriteCPUNsPerByte = float64(writeCPU) / float64(len(data))
	res.ReadCPUNsPerByte = float64(readCPU) / float64(len(data))
	return res, nil
}

// CPUTime returns the CPU time the process has used, user and system (0
// where the system does not say).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// sink keeps shards in memory without verifying them: Bench measures the
// pipeline, whose reader verifies every shard it fetches; stores are
// measured on their own (bench cluster) and verify on Put.
type sink struct {
	mu     sync.RWMutex
	shards map[erasure.ShardID][]byte
}

func newSink() *sink { return &sink{shards: map[erasure.ShardID][]byte{}} }

func (s *sink) Put(_ context.Context, id erasure.ShardID, b []byte) error {
	c := bytes.Clone(b)
	s.mu.Lock()
	s.shards[id] = c
	s.mu.Unlock()
	return nil
}

func (s *sink) Get(_ context.Context, id erasure.ShardID) ([]byte, error) {
	s.mu.RLock()
	b, ok := s.shards[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("get %s: %w", id.Short(), store.ErrNotFound)
	}
	return b, nil
}
