package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// ClusterResult is what BenchCluster measures: a put and a get of the same
// random bytes through a local cloud, and the pipeline alone over those
// bytes in the same run, so the ratios hold on a noisy machine.
type ClusterResult struct {
	Nodes           int     `json:"nodes"`
	Bytes           int64   `json:"bytes"`
	K               int     `json:"k"`
	M               int     `json:"m"`
	PutMBps         float64 `json:"put_MBps"`
	GetMBps         float64 `json:"get_MBps"`
	PipelineWrite   float64 `json:"pipeline_write_MBps"`
	PipelineRead    float64 `json:"pipeline_read_MBps"`
	PutRatio        float64 `json:"put_ratio"`
	GetRatio        float64 `json:"get_ratio"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	RSSAnonBytes    int64   `json:"rss_anon_bytes"`
	RSSFileBytes    int64   `json:"rss_file_bytes"`
	StoredPerByte   float64 `json:"stored_per_byte"`
	BenchDataBytes  int64   `json:"bench_data_bytes"`
	PipelineBaseMBs float64 `json:"baseline_MBps"`
	// CPU time the whole process spent per byte put or got (all nodes,
	// user and system), and its share of the wall time (2 = two cores
	// busy). On a shared machine these move less than the rates.
	PutCPUNsPerByte float64 `json:"put_cpu_ns_per_byte"`
	GetCPUNsPerByte float64 `json:"get_cpu_ns_per_byte"`
	// The same for the pipeline alone.
	PipelineWriteCPU float64 `json:"pipeline_write_cpu_ns_per_byte"`
	PipelineReadCPU  float64 `json:"pipeline_read_cpu_ns_per_byte"`
	PutCPUs          float64 `json:"put_cpus"`
	GetCPUs          float64 `json:"get_cpus"`
}

// BenchCluster starts a local cloud of nodes in dir, puts size random
// bytes through the first node and gets them back through the last (which
// must find the holders itself), and measures the pipeline alone on the
// same bytes. If memLimit > 0 it is the process's soft memory limit for
// the cloud phase only (the pipeline alone keeps every shard in memory and
// is measured without it); the previous limit is restored afterwards.
func BenchCluster(ctx context.Context, dir string, nodes int, size, memLimit int64) (*ClusterResult, error) {
	data := pipeline.BenchData(size, 7)
	var mk crypt.MasterKey
	copy(mk[:], data) // any key will do; the data is random
	cfg := pipeline.Config{Keys: mk.Keys(crypt.DriveID{1})}

	alone, err := pipeline.Bench(ctx, cfg, data, 1)
	if err != nil {
		return nil, err
	}
	// The pipeline alone kept every shard in memory: give that back and
	// start the peak-RSS count afresh, so it measures the cloud.
	debug.FreeOSMemory()
	if memLimit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(memLimit))
	}
	resetPeakRSS()
	l, err := StartLocal(ctx, LocalConfig{Dir: dir, Nodes: nodes})
	if err != nil {
		return nil, err
	}
	defer l.Close()

	start, cpu := time.Now(), pipeline.CPUTime()
	m, err := pipeline.Write(ctx, cfg, l.Nodes[0].Cloud(placement.NewRandom(1)), bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("bench put: %w", err)
	}
	put, putCPU := time.Since(start), pipeline.CPUTime()-cpu

	start, cpu = time.Now(), pipeline.CPUTime()
	r, err := pipeline.NewReader(ctx, cfg, l.Nodes[len(l.Nodes)-1].Cloud(placement.NewRandom(2)), m)
	if err != nil {
		return nil, err
	}
	if n, err := r.WriteTo(io.Discard); err != nil || n != size {
		return nil, fmt.Errorf("bench get: %d of %d bytes: %v", n, size, err)
	}
	get, getCPU := time.Since(start), pipeline.CPUTime()-cpu

	var stored int64
	for _, n := range l.Nodes {
		stored += n.Store().Used()
	}
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
	res := &ClusterResult{
		Nodes: len(l.Nodes), Bytes: size, K: alone.K, M: alone.M,
		PutMBps: mbps(put), GetMBps: mbps(get),
		PipelineWrite: alone.WriteMBps, PipelineRead: alone.ReadMBps, PipelineBaseMBs: alone.BaselineMBps,
		PeakRSSBytes: procStatus("VmHWM"), RSSAnonBytes: procStatus("RssAnon"), RSSFileBytes: procStatus("RssFile"),
		StoredPerByte: float64(stored) / float64(size), BenchDataBytes: size,
		PutCPUNsPerByte: float64(putCPU) / float64(size), GetCPUNsPerByte: float64(getCPU) / float64(size),
		PipelineWriteCPU: alone.WriteCPUNsPerByte, PipelineReadCPU: alone.ReadCPUNsPerByte,
		PutCPUs: putCPU.Seconds() / put.Seconds(), GetCPUs: getCPU.Seconds() / get.Seconds(),
	}
	res.PutRatio = res.PutMBps / res.PipelineWrite
	res.GetRatio = res.GetMBps / res.PipelineRead
	return res, nil
}

// procStatus returns a size field of /proc/self/status in bytes (VmHWM:
// peak resident set; RssAnon, RssFile: resident anonymous memory and
// mapped files now), or -1 where /proc does not say.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// resetPeakRSS restarts the kernel's peak-RSS count (VmHWM) from now.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
