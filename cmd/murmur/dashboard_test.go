package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/dashboard"
	"github.com/murmur-cloud/murmur/node"
)

// artifactsDir is where a test saves what a person would look at: the
// folder MURMUR_ARTIFACTS names, or the test's temporary folder.
func artifactsDir(t *testing.T) string {
	d := os.Getenv("MURMUR_ARTIFACTS")
	if d == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDashboardInChromium runs a cloud of six `murmur node` processes and
// looks at the first one's dashboard in a headless Chromium: it is
// refused without the token, shows six members with it, and shows one
// of them away within seconds of its process being SIGKILLed, the page
// updating itself. Screenshots, desktop and phone sized, go to
// MURMUR_ARTIFACTS (or the test's temporary folder).
func TestDashboardInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the dashboard's test needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
	}
	art := artifactsDir(t)
	// Gossip runs fast, so that the cloud's estimates show within the
	// test; the members are in two zones.
	dirs, secret := initCloud(t, 6)
	args := func(i int) []string {
		return []string{"--gossip-period", "200ms", "--zone", []string{"office", "home"}[i%2]}
	}
	procs := []*nodeProcess{startNode(t, dirs[0], args(0)...)}
	a, _ := peer.AddrInfoToP2pAddrs(&procs[0].info)
	invite := node.Invite{Secret: secret, Addrs: a}.String()
	for i, d := range dirs[1:] {
		procs = append(procs, startNode(t, d, append(args(i+1), "--join", invite)...))
	}

	// murmur dashboard prints the URL, token included.
	cmd := murmurCmd("dashboard", "--dir", dirs[0])
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("murmur dashboard: %v", err)
	}
	page := strings.TrimSpace(string(b))
	u, err := url.Parse(page)
	if err != nil || u.Hostname() != "127.0.0.1" || len(u.Query().Get("token")) != 64 {
		t.Fatalf("murmur dashboard printed %q", page)
	}
	token := u.Query().Get("token")
	if fi, err := os.Stat(filepath.Join(dirs[0], "dashboard.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	base := "http://" + u.Host

	// Without the token, or with another, every path is refused: the
	// page, the snapshot and the event stream.
	for _, p := range []string{"/", "/api/snapshot", "/api/events", "/?token=" + strings.Repeat("0", 64), "/api/events?token=" + token[:63]} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %s", p, resp.Status)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	// The browser is refused too without the token.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/"))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if resp.Status != http.StatusUnauthorized {
		t.Fatalf("the page without the token: %d", resp.Status)
	}
	if resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(page)); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("the page with the token: %v %v", resp, err)
	}

	// Some traffic for the chart: a file put through the node.
	data := make([]byte, 6<<20)
	rng := rand.New(rand.NewPCG(14, 14))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if _, err := client.New(cli.SocketPath(dirs[0])).Put(context.Background(), "dashboard.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}

	wait := func(what, expr string, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(limit), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			txt, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("the page did not show %s in %v: %v\n%s", what, limit, err, txt)
		}
		return time.Since(start)
	}
	wait("six members up", `document.getElementById("member-count").textContent === "6" &&
		document.querySelectorAll('#members tr[data-state="up"]').length === 6 &&
		document.getElementById("live").dataset.state === "live"`, 30*time.Second)
	wait("gossip's estimate of the cloud's size", `Math.round(Number(document.getElementById("cloud-size").textContent)) === 6 &&
		document.querySelectorAll('#members td:nth-child(2)').length > 0 &&
		[...document.querySelectorAll('#members tr[data-state="up"] td:nth-child(2)')].every(td => td.textContent === "office" || td.textContent === "home")`, 60*time.Second)
	wait("the file's traffic in the chart", `document.querySelectorAll("#chart polyline").length === 2 &&
		document.getElementById("node-stored").textContent !== "0 B"`, 30*time.Second)
	// The put's shards went out through node 0's libp2p host: the
	// sampled traffic shows at least the file's bytes sent.
	// (A sample is taken every second: the last bytes show at the next.)
	sentBytes := func() (sent float64) {
		rates := snapshotOf(t, base, token).Traffic
		for i, r := range rates {
			dt := 1.0 // the sampling period
			if i > 0 {
				dt = r.T.Sub(rates[i-1].T).Seconds()
			}
			sent += r.Out * dt
		}
		return sent
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		sent := sentBytes()
		if sent >= float64(len(data)) {
			t.Logf("the traffic samples add up to %.0f bytes sent for a file of %d", sent, len(data))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the traffic samples add up to %.0f bytes sent, want at least the file's %d", sent, len(data))
		}
	}
	shot(t, ctx, filepath.Join(art, "dashboard-desktop.png"))

	// One member's process is SIGKILLed: the page shows it away, by
	// itself, within seconds.
	gone := procs[5]
	id := gone.info.ID.String()
	gone.cmd.Process.Signal(syscall.SIGKILL)
	gone.cmd.Wait()
	took := wait("the killed member away", fmt.Sprintf(`document.getElementById("member-count").textContent === "5" &&
		document.querySelector('#members tr[data-peer="%s"]')?.dataset.state === "away"`, id), 15*time.Second)
	t.Logf("the page showed member %s away %v after its process was killed", id, took.Round(time.Millisecond))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#members tr[data-state="up"]').length`)); err != nil || n != 5 {
		t.Fatalf("members up after the kill: %d %v", n, err)
	}
	shot(t, ctx, filepath.Join(art, "dashboard-member-away.png"))

	// On a phone-sized window nothing is wider than the screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	wait("a page that fits 390 px", `document.documentElement.scrollWidth <= 390`, 10*time.Second)
	shot(t, ctx, filepath.Join(art, "dashboard-phone.png"))
}

// snapshotOf is the dashboard's snapshot at base.
func snapshotOf(t *testing.T, base, token string) dashboard.Snapshot {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/snapshot", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s dashboard.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot: %s %v", resp.Status, err)
	}
	return s
}

// shot saves a screenshot of the whole page at path.
func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestUpDashboard runs murmur up: it prints the dashboard's URL as it
// starts, murmur dashboard prints the same, and the dashboard's snapshot
// shows the six nodes and the drive up mounts.
// With --dashboard off there is none, and murmur dashboard says so.
func TestUpDashboard(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "cloud")
	cmd := murmurCmd("up", "--dir", dir, mnt)
	out := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	const prefix = "Dashboard (murmur dashboard prints it again): "
	var printed string
	for deadline := time.Now().Add(30 * time.Second); printed == ""; time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(out.String(), "\n") {
			if u, ok := strings.CutPrefix(l, prefix); ok {
				printed = u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("murmur up printed no dashboard: %s", out.String())
		}
	}
	got, err := run(t, "dashboard", "--dir", dir)
	if err != nil || strings.TrimSpace(got) != printed {
		t.Fatalf("murmur dashboard: %q, %v; up printed %q", got, err, printed)
	}
	u, _ := url.Parse(printed)
	snap := "http://" + u.Host + "/api/snapshot?token=" + u.Query().Get("token")

	var last string
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(snap)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == 200 && strings.Contains(last, `"up":6`) && strings.Contains(last, `"mountpoint":"`+mnt+`"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the snapshot never showed six nodes and the mount: %v %s", err, last)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("murmur up after Ctrl-C: %v\n%s", err, out.String())
	}
	if _, err := http.Get(snap); err == nil {
		t.Fatal("the dashboard still answers after murmur up stopped")
	}

	off := murmurCmd("up", "--dir", dir, "--no-mount", "--dashboard", "off")
	offOut := newSyncBuffer()
	off.Stdout, off.Stderr = offOut, offOut
	if err := off.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { off.Process.Signal(syscall.SIGKILL); off.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := run(t, "dashboard", "--dir", dir)
		if err != nil && strings.Contains(err.Error(), "serves no dashboard") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("murmur dashboard with --dashboard off: %v\n%s", err, offOut.String())
		}
	}
	if strings.Contains(offOut.String(), prefix) {
		t.Fatalf("up --dashboard off printed a dashboard: %s", offOut.String())
	}
}
