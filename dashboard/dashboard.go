package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/client"
)

var (
	//go:embed assets/index.html
	indexHTML string
	//go:embed assets/style.css
	styleCSS string
	//go:embed assets/app.js
	appJS string
)

// Config configures a Dashboard.
type Config struct {
	Source Source
	Token  string // what every request must carry; see NewToken
	// Period is how often traffic is sampled and the event stream sends
	// a snapshot; default a second.
	Period time.Duration
	// Samples is how many traffic samples are kept; default 300 (five
	// minutes at a second).
	Samples int
	Logger  *slog.Logger
}

// Dashboard serves the dashboard. It is an http.Handler; Run samples
// the traffic it charts.
type Dashboard struct {
	cfg     Config
	page    []byte
	csp     string
	traffic *traffic

	mu   sync.Mutex
	seen map[string]Member // members seen connected since the start, by ID
}

// maxAway bounds the members that went away the dashboard remembers.
const maxAway = 256

// New returns the dashboard of cfg.Source.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Source == nil {
		return nil, errors.New("dashboard: no source")
	}
	if len(cfg.Token) < 16 {
		return nil, errors.New("dashboard: the token is too short")
	}
	if cfg.Period <= 0 {
		cfg.Period = time.Second
	}
	if cfg.Samples < 2 {
		cfg.Samples = 300
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The style and the script are inlined into the page, so that the
	// one request that carries the token in its URL brings them all; the
	// content security policy allows exactly them and requests to this
	// origin, nothing from elsewhere.
	page := strings.Replace(indexHTML, "/*STYLE*/", styleCSS, 1)
	page = strings.Replace(page, "/*SCRIPT*/", appJS, 1)
	hash := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	csp := "default-src 'none'; style-src " + hash(styleCSS) + "; script-src " + hash(appJS) +
		"; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return &Dashboard{cfg: cfg, page: []byte(page), csp: csp, traffic: newTraffic(cfg.Samples), seen: map[string]Member{}}, nil
}

// Run samples the source's traffic every period until ctx ends.
func (d *Dashboard) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Period)
	defer t.Stop()
	d.Sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.Sample(now)
		}
	}
}

// Sample takes one sample of the source's traffic counters at now.
func (d *Dashboard) Sample(now time.Time) {
	in, out := d.cfg.Source.Traffic()
	d.traffic.add(sample{t: now, in: in, out: out})
}

// ServeHTTP serves the page (GET /), the snapshot (GET /api/snapshot)
// and the event stream (GET /api/events), to requests with the token.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	if !loopbackHost(r.Host) {
		http.Error(w, "dashboard: not a loopback host", http.StatusForbidden)
		return
	}
	if !d.authorized(r) {
		h.Set("WWW-Authenticate", `Bearer realm="murmur dashboard"`)
		http.Error(w, "dashboard: the token is missing or wrong; `murmur dashboard` prints the URL with it", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "dashboard: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", d.csp)
		w.Write(d.page)
	case "/api/snapshot":
		s, err := d.snapshot(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		h.Set("Content-Type", "application/json")
		w.Write(append(s, '\n'))
	case "/api/events":
		d.events(w, r)
	default:
		http.NotFound(w, r)
	}
}

// authorized tells whether r carries the token, in its query or as a
// bearer token.
func (d *Dashboard) authorized(r *http.Request) bool {
	got := r.URL.Query().Get("token")
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		got = a
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(d.cfg.Token)) == 1
}

// loopbackHost tells whether a Host header names this machine by a
// loopback address or as localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// snapshot is the source's snapshot with the traffic and the members
// that went away, as JSON.
func (d *Dashboard) snapshot(ctx context.Context) ([]byte, error) {
	s, err := d.cfg.Source.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if s.Time.IsZero() {
		s.Time = time.Now()
	}
	s.Traffic = d.traffic.rates()
	d.markAway(s)
	if s.Drives == nil {
		s.Drives = []Drive{}
	}
	if s.Backups == nil {
		s.Backups = []Backup{}
	}
	if s.Jobs == nil {
		s.Jobs = []client.Job{}
	}
	return json.Marshal(s)
}

// markAway remembers the members of s and adds to it, as away, those
// seen before that it lacks.
func (d *Dashboard) markAway(s *Snapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	here := map[string]bool{}
	for _, m := range s.Members {
		here[m.ID] = true
		m.Since = s.Time
		d.seen[m.ID] = m
	}
	s.Up = len(s.Members)
	for id, m := range d.seen {
		if here[id] {
			continue
		}
		m.Away = true // Since stays the last time it was seen
		s.Members = append(s.Members, m)
	}
	if len(d.seen) > maxAway {
		for id, m := range d.seen { // forget the longest gone
			if !here[id] && s.Time.Sub(m.Since) > time.Hour {
				delete(d.seen, id)
			}
		}
	}
}

// events sends a snapshot at once and then every period, as
// server-sent events, until the client goes.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(d.cfg.Period)
	defer t.Stop()
	for {
		s, err := d.snapshot(r.Context())
		if err != nil {
			b, _ := json.Marshal(err.Error())
			_, err = w.Write([]byte("event: problem\ndata: " + string(b) + "\n\n"))
		} else {
			_, err = w.Write([]byte("data: " + string(s) + "\n\n"))
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
