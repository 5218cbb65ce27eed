package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource is a Source whose figures the test sets: the dashboard's
// own logic (auth, away members, traffic, events) is what is tested
// here; the daemon's source is tested against real nodes in cmd/murmur.
type fakeSource struct {
	mu      sync.Mutex
	members []Member
	in, out int64
}

func (f *fakeSource) Snapshot(context.Context) (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &Snapshot{Node: "self", Cloud: "c1", Members: append([]Member(nil), f.members...)}, nil
}

func (f *fakeSource) Traffic() (int64, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.in, f.out
}

const testToken = "0123456789abcdef0123456789abcdef"

func newTest(t *testing.T) (*Dashboard, *fakeSource) {
	src := &fakeSource{members: []Member{{ID: "self", Self: true}, {ID: "a"}, {ID: "b"}}}
	d, err := New(Config{Source: src, Token: testToken, Period: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d, src
}

func get(d http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	return w
}

func TestTokenRequired(t *testing.T) {
	d, _ := newTest(t)
	for _, c := range []struct {
		target string
		hdr    []string
		want   int
	}{
		{"http://127.0.0.1/", nil, 401},
		{"http://127.0.0.1/api/snapshot", nil, 401},
		{"http://127.0.0.1/api/events", nil, 401},
		{"http://127.0.0.1/?token=" + testToken[:31], nil, 401},
		{"http://127.0.0.1/?token=" + testToken + "0", nil, 401},
		{"http://127.0.0.1/api/snapshot", []string{"Authorization", "Bearer wrong"}, 401},
		{"http://127.0.0.1/?token=" + testToken, nil, 200},
		{"http://localhost:8080/?token=" + testToken, nil, 200},
		{"http://[::1]:8080/?token=" + testToken, nil, 200},
		{"http://127.0.0.1/api/snapshot", []string{"Authorization", "Bearer " + testToken}, 200},
		{"http://127.0.0.1/nothing?token=" + testToken, nil, 404},
		// A name rebound to loopback is refused, token or not.
		{"http://evil.example/?token=" + testToken, nil, 403},
		{"http://127.0.0.1/?token=" + testToken, []string{"Host", "evil.example:80"}, 403},
	} {
		if w := get(d, c.target, c.hdr...); w.Code != c.want {
			t.Errorf("GET %s %v: %d, want %d", c.target, c.hdr, w.Code, c.want)
		}
	}
}

// The page carries its style and script inline, and its policy allows
// exactly them and this origin: nothing is loaded from elsewhere.
func TestPageSelfContained(t *testing.T) {
	d, _ := newTest(t)
	w := get(d, "http://127.0.0.1/?token="+testToken)
	body := w.Body.String()
	if strings.Contains(body, "/*STYLE*/") || strings.Contains(body, "/*SCRIPT*/") || !strings.Contains(body, "EventSource") {
		t.Fatal("style or script not inlined")
	}
	// The one link is the empty icon, so that the browser asks for no
	// favicon.
	if strings.Count(body, "href=") != 1 || !strings.Contains(body, `<link rel="icon" href="data:,">`) {
		t.Error("the page links to something")
	}
	for _, bad := range []string{"http://", "https://", "src=", "@import", "url("} {
		if strings.Contains(body, bad) && !(bad == "http://" && strings.Count(body, bad) == strings.Count(body, "http://www.w3.org/2000/svg")) {
			t.Errorf("the page contains %q", bad)
		}
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("policy %q", csp)
	}
}

func snapshotOf(t *testing.T, d *Dashboard) Snapshot {
	t.Helper()
	w := get(d, "http://127.0.0.1/api/snapshot?token="+testToken)
	var s Snapshot
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	return s
}

func TestMemberAway(t *testing.T) {
	d, src := newTest(t)
	if s := snapshotOf(t, d); s.Up != 3 || len(s.Members) != 3 {
		t.Fatalf("%+v", s)
	}
	src.mu.Lock()
	src.members = src.members[:2] // b goes
	src.mu.Unlock()
	s := snapshotOf(t, d)
	if s.Up != 2 || len(s.Members) != 3 || s.Members[2].ID != "b" || !s.Members[2].Away || s.Members[2].Since.IsZero() {
		t.Fatalf("%+v", s)
	}
	src.mu.Lock()
	src.members = append(src.members, Member{ID: "b"}) // and comes back
	src.mu.Unlock()
	if s := snapshotOf(t, d); s.Up != 3 || len(s.Members) != 3 || s.Members[2].Away {
		t.Fatalf("%+v", s)
	}
}

func TestTrafficRates(t *testing.T) {
	d, src := newTest(t)
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		src.mu.Lock()
		src.in, src.out = int64(i*1000), int64(i*500)
		if i == 3 {
			src.in = 0 // a counter that went back: no rate for that interval
		}
		src.mu.Unlock()
		d.Sample(t0.Add(time.Duration(i) * 2 * time.Second))
	}
	r := snapshotOf(t, d).Traffic
	if len(r) != 3 || r[0].In != 500 || r[0].Out != 250 || r[2].In != 2000 || !r[2].T.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("%+v", r)
	}
	// The ring keeps the last Samples samples.
	d2, _ := New(Config{Source: src, Token: testToken, Samples: 3})
	for i := range 10 {
		d2.Sample(t0.Add(time.Duration(i) * time.Second))
	}
	if r := d2.traffic.rates(); len(r) != 2 || !r[1].T.Equal(t0.Add(9*time.Second)) {
		t.Fatalf("%+v", r)
	}
}

// The event stream sends snapshots as they change, and is refused
// without the token (TestTokenRequired).
func TestEvents(t *testing.T) {
	d, src := newTest(t)
	srv := httptest.NewServer(d)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events?token="+testToken, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	next := func() Snapshot {
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var s Snapshot
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return Snapshot{}
	}
	if s := next(); s.Up != 3 {
		t.Fatalf("first event: %+v", s)
	}
	src.mu.Lock()
	src.members = src.members[:1]
	src.mu.Unlock()
	for s := next(); s.Up != 1; s = next() {
	}
}

func TestLoadTokenAndListen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dashboard.token")
	a, err := LoadToken(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi.Mode(), err)
	}
	b, err := LoadToken(p)
	if err != nil || a != b || len(a) != 64 {
		t.Fatalf("%q %q %v", a, b, err)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:80"} {
		if ln, err := Listen(addr); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) accepted", addr)
		}
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if u := URL(ln, a); !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/?token="+a) {
		t.Fatal(u)
	}
}
