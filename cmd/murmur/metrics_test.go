package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// freePort returns a loopback TCP port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// scrape GETs url and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: %s: %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams
}

// value sums the samples of the family name whose labels include want
// (a counter's or gauge's value, a histogram's count).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// lint lints the murmur_ families of a scrape and logs libp2p's problems
// (their names are libp2p's, not ours).
func lint(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	var list []*dto.MetricFamily
	var ours []string
	for name, f := range fams {
		list = append(list, f)
		if strings.HasPrefix(name, "murmur_") {
			ours = append(ours, name)
		}
	}
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return list, nil })
	problems, err := testutil.GatherAndLint(g, ours...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if all, err := testutil.GatherAndLint(g); err == nil && len(all) > len(problems) {
		t.Logf("lint: %d problems in libp2p's and the runtime's series (not ours)", len(all)-len(problems))
	}
}

// TestMetricsScrape runs three `murmur node` processes with --metrics,
// writes a file through them and reads it back, then scrapes every
// node's /metrics over HTTP, lints it and checks the main series.
func TestMetricsScrape(t *testing.T) {
	dirs, secret := initCloud(t, 3)
	var urls []string
	var procs []*nodeProcess
	for i, d := range dirs {
		port := freePort(t)
		urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		args := []string{"--metrics", fmt.Sprintf("127.0.0.1:%d", port), "--dashboard", "off"}
		if i > 0 {
			a, _ := peer.AddrInfoToP2pAddrs(&procs[0].info)
			args = append(args, "--join", node.Invite{Secret: secret, Addrs: a}.String())
		}
		procs = append(procs, startNode(t, d, args...))
	}

	client, err := node.New(node.Config{Dir: t.TempDir(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	for _, p := range procs {
		if err := client.Connect(ctx, p.info); err != nil {
			t.Fatal(err)
		}
	}
	var mk crypt.MasterKey
	rand.Read(mk[:])
	cfg := pipeline.Config{Keys: mk.Keys(crypt.NewDriveID()), K: 2, M: 1}
	data := make([]byte, 3<<20)
	rand.Read(data)
	m, err := pipeline.Write(ctx, cfg, client.Cloud(placement.NewRandom(1)).PeersOnly(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewReader(ctx, cfg, client.Cloud(placement.NewRandom(2)), m)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := r.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got.Bytes(), data))
	}

	var puts, gets, shards, stored, in float64
	for i, url := range urls {
		fams := scrape(t, url)
		lint(t, fams)
		puts += value(fams, "murmur_shard_requests_total", map[string]string{"op": "put", "result": "ok"})
		puts += value(fams, "murmur_shard_requests_total", map[string]string{"op": "put_stripe", "result": "ok"})
		gets += value(fams, "murmur_shard_requests_total", map[string]string{"op": "get", "result": "ok"})
		shards += value(fams, "murmur_store_shards", nil)
		stored += value(fams, "murmur_store_bytes", nil)
		// libp2p's bandwidth counter adds its meters up once a second.
		for deadline := time.Now().Add(10 * time.Second); value(fams, "murmur_network_received_bytes_total", nil) <= 0 && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			fams = scrape(t, url)
		}
		in += value(fams, "murmur_network_received_bytes_total", nil)
		if h := value(fams, "murmur_shard_request_duration_seconds", map[string]string{"op": "put"}); h < 0 {
			t.Errorf("node %d: no put latency histogram", i)
		}
		for _, name := range []string{"murmur_peers", "murmur_gossip_members", "murmur_gossip_capacity_bytes", "murmur_repair_backlog",
			"murmur_audits_total", "murmur_lease_renewals_total", "murmur_drives_mounted", "murmur_compute_jobs", "go_goroutines"} {
			if fams[name] == nil {
				t.Errorf("node %d: no %s", i, name)
			}
		}
		libp2p := 0
		for name := range fams {
			if strings.HasPrefix(name, "libp2p_") {
				libp2p++
			}
		}
		if libp2p == 0 {
			t.Errorf("node %d: no libp2p_ series", i)
		}
		if p := value(fams, "murmur_peers", nil); p < 2 {
			t.Errorf("node %d: murmur_peers %v, want ≥ 2", i, p)
		}
		t.Logf("node %d: %d families, %d of libp2p; shards %v, bytes %v", i, len(fams), libp2p,
			value(fams, "murmur_store_shards", nil), value(fams, "murmur_store_bytes", nil))
	}
	var held float64 // shards stored: a stripe's empty slots are not
	for _, d := range m.Stripes {
		for j := range d.Shards {
			if d.Stored(j) {
				held++
			}
		}
	}
	stripes := float64(len(m.Stripes))
	if puts < held || gets < stripes || shards < held || stored < float64(len(data)) || in <= stored {
		t.Fatalf("over the 3 nodes: %v puts, %v gets, %v shards, %v bytes stored, %v received; want ≥ %v, %v, %v, %d, > stored",
			puts, gets, shards, stored, in, held, stripes, held, len(data))
	}
	t.Logf("over the 3 nodes: %v puts, %v gets, %v shards, %v bytes stored, %v bytes received", puts, gets, shards, stored, in)
}

// TestMetricsLoopbackOnly: --metrics :PORT serves on 127.0.0.1 and on
// none of the machine's other addresses.
func TestMetricsLoopbackOnly(t *testing.T) {
	dirs, _ := initCloud(t, 1)
	port := freePort(t)
	startNode(t, dirs[0], "--metrics", ":"+strconv.Itoa(port), "--dashboard", "off")
	if fams := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); fams["murmur_store_shards"] == nil {
		t.Fatal("no murmur_store_shards on 127.0.0.1")
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip, _, err := net.ParseCIDR(a.String())
		if err != nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the metrics port answers on %v", ip)
		} else {
			t.Logf("refused on %v: %v", ip, err)
		}
	}
}

// TestUpMetrics: murmur up --metrics serves one registry for its six
// nodes, each node's series labelled with its index.
func TestUpMetrics(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "up", "--dir", dir, "--no-mount", "--dashboard", "off", "--metrics", ":"+strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("murmur up serves no metrics: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	fams := scrape(t, url)
	lint(t, fams)
	for i := range 6 {
		if v := value(fams, "murmur_peers", map[string]string{"node": strconv.Itoa(i)}); v < 0 || fams["murmur_peers"] == nil {
			t.Errorf("no murmur_peers of node %d", i)
		}
	}
	if n := len(fams["murmur_store_shards"].GetMetric()); n != 6 {
		t.Errorf("murmur_store_shards has %d series, want 6", n)
	}
	// The daemon's parts only for node 0.
	if l := fams["murmur_lease_renewals_total"]; l == nil || len(l.GetMetric()) != 1 || l.GetMetric()[0].GetLabel()[0].GetValue() != "0" {
		t.Errorf("lease renewals: %v, want node 0's only", l)
	}
	if !strings.Contains(out.String(), "Metrics: "+url) {
		t.Errorf("murmur up does not print the metrics URL: %s", out.String())
	}
}
