package dashboard

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/murmur-cloud/murmur/client"
)

// fullSource has a figure for every part of the page: drives with
// uploads pending, backups, jobs, degraded stripes.
type fullSource struct{ fakeSource }

func (f *fullSource) Snapshot(ctx context.Context) (*Snapshot, error) {
	s, _ := f.fakeSource.Snapshot(ctx)
	s.Size, s.Capacity, s.Free, s.Stored = 3, 3<<30, 2<<30, 1<<30
	s.Space = client.Space{Total: 3 << 30, Free: 2 << 30, Stored: 1 << 30, Members: 3, Estimated: true}
	s.Code = "k2 m1"
	s.Repairs = client.RepairStatus{Stripes: 8, Health: []int{5, 2}, BelowK: 1, Backlog: 3, Running: 1}
	s.Audits = client.AuditStatus{Passed: 40, Failed: 1}
	s.Drives = []Drive{{Name: "up", Mountpoint: "/home/me/cloud", Writer: true, PendingBytes: 5 << 20, PendingFiles: 3, UploadDone: 1 << 20, UploadTotal: 4 << 20}}
	s.Backups = []Backup{{Name: "home", Schedule: "daily 03:00", LastOK: time.Now().Add(-time.Hour), Next: time.Now().Add(23 * time.Hour)}, {Name: "work", Schedule: "every 1h", LastError: "cloud full"}}
	s.Jobs = []client.Job{{ID: "job-0123456789abcdef", State: "running", Tasks: 10, Done: 4}}
	return s, nil
}

// TestPageRenders loads the page in headless Chromium over a source with
// every kind of figure, and checks that each shows, that the page's
// policy lets its own style and script run, and that nothing is logged
// as an error (no exception, no request blocked or failed).
func TestPageRenders(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the page's test needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
	}
	src := &fullSource{fakeSource{members: []Member{{ID: "self", Self: true, Zone: "office", Free: 1 << 30}, {ID: "peer-a", Zone: "home", Reliability: 0.97, Free: 2 << 30}}, in: 1, out: 1}}
	d, err := New(Config{Source: src, Token: testToken, Period: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // traffic for the chart
		for i := int64(0); ctx.Err() == nil; i++ {
			src.mu.Lock()
			src.in, src.out = i*1000, i*3000
			src.mu.Unlock()
			d.Sample(time.Now())
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1024, 800))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text+" "+fmt.Sprint(e.ExceptionDetails.Exception))
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				problems = append(problems, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console error")
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	tctx, cancelT := context.WithTimeout(bctx, time.Minute)
	defer cancelT()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL+"/?token="+testToken)); err != nil {
		t.Fatal(err)
	}
	checks := []string{
		`document.getElementById("live").dataset.state === "live"`,
		`location.search === ""`, // the token is out of the address bar
		`document.getElementById("member-count").textContent === "2"`,
		`document.querySelector('#members tr[data-peer="peer-a"] td:nth-child(3)').textContent === "97.0%"`,
		`document.getElementById("cloud-size").textContent === "3.0"`,
		`document.getElementById("cloud-code").textContent.includes("k2 m1")`,
		`document.querySelectorAll("#health-bar span").length === 3`,
		`document.getElementById("repairs").textContent.includes("repair backlog3")`,
		`document.getElementById("drives").textContent.includes("5.0 MiB in 3 files") && document.getElementById("drives").textContent.includes("25.0% of 4.0 MiB")`,
		`!document.getElementById("backups-card").hidden && document.querySelectorAll("#backups tr").length === 2 && document.getElementById("backups").textContent.includes("failed: cloud full")`,
		`!document.getElementById("jobs-card").hidden && document.getElementById("jobs").textContent.includes("running4/10")`,
		`document.querySelectorAll("#chart polyline").length === 2`,
		// The style applies: the tiles are a grid.
		`getComputedStyle(document.querySelector(".tiles")).display === "grid"`,
	}
	for _, c := range checks {
		if _, err := chromedp.Run(tctx, chromedp.Poll[bool](c, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			txt, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\n%s", c, err, txt)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("the page logged:\n%s", strings.Join(problems, "\n"))
	}
	t.Log(fmt.Sprint(len(checks), " checks passed"))
}
