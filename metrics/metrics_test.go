package metrics_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/murmur-cloud/murmur/metrics"
)

func fullFigures() *metrics.Figures {
	t0 := time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)
	return &metrics.Figures{
		Shards: 3, StoredBytes: 3 << 20, QuotaBytes: 1 << 30, Peers: 5,
		ReceivedBytes: 10, SentBytes: 20,
		Gossip:  metrics.Gossip{Cycles: 7, Size: 6, Capacity: 6 << 30, Free: 5 << 30, Stored: 1 << 30},
		Code:    &metrics.Code{K: 4, M: 2},
		Repairs: metrics.Repairs{Stripes: 2, Health: []int{1, 1, 0}, Done: 1, BytesIn: 5, BytesOut: 6},
		Audits:  metrics.Audits{Passed: 4, TimedOut: 1, Scrubbed: 3},
		Leases:  &metrics.Leases{Runs: 1, Renewed: 9, Last: t0},
		Drives:  []metrics.Drive{{PendingBytes: 100, PendingFiles: 1}, {PendingBytes: 50, PendingFiles: 2}},
		Backups: []metrics.Backup{{Name: "home", LastStart: t0, LastOK: t0}, {Name: "home"}, {Name: "photos", Failing: true}},
		Jobs:    &metrics.Jobs{States: map[string]int{"done": 2}, Tasks: 8, Done: 8, Local: 8, Verified: 8, Runs: 16},
	}
}

func TestRegistryLint(t *testing.T) {
	r := metrics.New()
	r.Set(0, metrics.SourceFunc(func(context.Context) *metrics.Figures { return fullFigures() }))
	r.Set(1, metrics.SourceFunc(func(context.Context) *metrics.Figures { return &metrics.Figures{} })) // a worker: no daemon parts
	obs := r.Requests(0)
	obs("put", 3*time.Millisecond, true)
	obs("put stripe", time.Millisecond, true)
	obs("get", time.Millisecond, false)
	obs("op(200)", time.Millisecond, false) // made up by a peer: counted as other
	r.Requests(1)

	problems, err := testutil.GatherAndLint(r.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP murmur_drive_pending_bytes Bytes written to the mounted drives and not yet uploaded, all drives together.
# TYPE murmur_drive_pending_bytes gauge
murmur_drive_pending_bytes{node="0"} 150
murmur_drive_pending_bytes{node="1"} 0
# HELP murmur_shard_requests_total Shard requests served to peers, by operation and result (ok, or error when refused or not answered).
# TYPE murmur_shard_requests_total counter
murmur_shard_requests_total{node="0",op="get",result="error"} 1
murmur_shard_requests_total{node="0",op="get",result="ok"} 0
murmur_shard_requests_total{node="0",op="has",result="error"} 0
murmur_shard_requests_total{node="0",op="has",result="ok"} 0
murmur_shard_requests_total{node="0",op="other",result="error"} 1
murmur_shard_requests_total{node="0",op="put",result="error"} 0
murmur_shard_requests_total{node="0",op="put",result="ok"} 1
murmur_shard_requests_total{node="0",op="put_stripe",result="ok"} 1
murmur_shard_requests_total{node="1",op="get",result="error"} 0
murmur_shard_requests_total{node="1",op="get",result="ok"} 0
murmur_shard_requests_total{node="1",op="has",result="error"} 0
murmur_shard_requests_total{node="1",op="has",result="ok"} 0
murmur_shard_requests_total{node="1",op="put",result="error"} 0
murmur_shard_requests_total{node="1",op="put",result="ok"} 0
# HELP murmur_code_data_shards k: data shards a stripe of the next file gets (absent when no code can be chosen yet).
# TYPE murmur_code_data_shards gauge
murmur_code_data_shards{node="0"} 4
# HELP murmur_backup_failing 1 if the backup's last run failed.
# TYPE murmur_backup_failing gauge
murmur_backup_failing{backup="home",node="0"} 0
murmur_backup_failing{backup="photos",node="0"} 1
# HELP murmur_lease_last_renewal_timestamp_seconds When the last renewal pass ran (Unix time; 0: none yet).
# TYPE murmur_lease_last_renewal_timestamp_seconds gauge
murmur_lease_last_renewal_timestamp_seconds{node="0"} 1796403600.0
`
	if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(want),
		"murmur_drive_pending_bytes", "murmur_shard_requests_total", "murmur_code_data_shards", "murmur_backup_failing",
		"murmur_lease_last_renewal_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		in, want string
		public   bool
	}{
		{":9464", "127.0.0.1:9464", false},
		{":0", "127.0.0.1:0", false},
		{"127.0.0.1:9464", "127.0.0.1:9464", false},
		{"localhost:9464", "localhost:9464", false},
		{"[::1]:9464", "[::1]:9464", false},
		{"0.0.0.0:9464", "0.0.0.0:9464", true},
		{"192.168.1.5:9464", "192.168.1.5:9464", true},
		{"[::]:9464", "[::]:9464", true},
		{"example.org:9464", "example.org:9464", true},
	} {
		got, public, err := metrics.Resolve(c.in)
		if err != nil || got != c.want || public != c.public {
			t.Errorf("Resolve(%q) = %q, %v, %v; want %q, %v", c.in, got, public, err, c.want, c.public)
		}
	}
	for _, bad := range []string{"9464", "", "host"} {
		if _, _, err := metrics.Resolve(bad); err == nil {
			t.Errorf("Resolve(%q): no error", bad)
		}
	}
}

// TestListenLoopback: --metrics :PORT binds 127.0.0.1 only, and serves
// /metrics there and nothing else.
func TestListenLoopback(t *testing.T) {
	ln, public, err := metrics.Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if public || !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("listening on %v (public %v), want 127.0.0.1", addr, public)
	}
	r := metrics.New()
	r.Set(0, metrics.SourceFunc(func(context.Context) *metrics.Figures { return fullFigures() }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, ln, r.Handler()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `murmur_store_shards{node="0"} 3`) {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if resp, err := http.Get("http://" + addr.String() + "/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /: %v %v, want 404", resp.Status, err)
	}
	// Nothing answers on the machine's other addresses at that port.
	ifs, _ := net.InterfaceAddrs()
	for _, a := range ifs {
		ip, _, _ := net.ParseCIDR(a.String())
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port)), time.Second)
		if err == nil {
			c.Close()
			t.Errorf("the metrics port answers on %v", ip)
		}
	}
}
