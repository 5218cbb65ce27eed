package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrapeTimeout bounds how long one Source may take to fill its Figures.
const scrapeTimeout = 5 * time.Second

// Registry is one process's metrics: its own prometheus.Registry with
// the Go runtime's and the process's collectors, the figures of the
// Sources set on it, and the shard requests counted by Requests. It is
// safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry

	durations *prometheus.HistogramVec
	requests  *prometheus.CounterVec

	mu      sync.Mutex
	sources map[int]Source
}

// New returns an empty Registry.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), sources: map[int]Source{}}
	r.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "murmur_shard_request_duration_seconds",
		Help: "Time to serve one shard request from a peer, by operation: from the stream's opening to the answer sent.",
		// From a has answered from the cache (100 µs) to a 4 MiB put
		// over a slow link (tens of seconds).
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"node", "op"})
	r.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "murmur_shard_requests_total",
		Help: "Shard requests served to peers, by operation and result (ok, or error when refused or not answered).",
	}, []string{"node", "op", "result"})
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.durations, r.requests, (*collector)(r),
	)
	return r
}

// Registerer is where other libraries (libp2p) register their own
// collectors.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Gatherer gathers every series of the registry.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus text (or protobuf)
// exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg, Timeout: 2 * scrapeTimeout})
}

// Set makes src the source of node's figures, replacing any before.
func (r *Registry) Set(node int, src Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources[node] = src
}

// ops are the shard protocol's operations that get series of their own;
// any other string is counted as "other", so that a peer cannot make
// series up.
var ops = map[string]bool{
	"put": true, "get": true, "has": true, "list": true, "renew": true, "release": true,
	"put_stripe": true, "record": true, "renew_stripes": true, "release_stripes": true,
}

// Requests returns the hook that counts the shard requests node serves
// (node.Config.OnRequest): op is the operation's name ("put", "get",
// "has", "put stripe", …; spaces become underscores), took the time to
// serve it, ok whether it was answered with success. The series of put,
// get and has exist, at zero, from the call on.
func (r *Registry) Requests(node int) func(op string, took time.Duration, ok bool) {
	label := strconv.Itoa(node)
	for _, op := range []string{"put", "get", "has"} {
		r.durations.WithLabelValues(label, op)
		r.requests.WithLabelValues(label, op, "ok")
		r.requests.WithLabelValues(label, op, "error")
	}
	return func(op string, took time.Duration, ok bool) {
		op = strings.ReplaceAll(op, " ", "_")
		if !ops[op] {
			op = "other"
		}
		result := "ok"
		if !ok {
			result = "error"
		}
		r.durations.WithLabelValues(label, op).Observe(took.Seconds())
		r.requests.WithLabelValues(label, op, result).Inc()
	}
}

// snapshot returns the sources by node, in no order.
func (r *Registry) snapshot() map[int]Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int]Source, len(r.sources))
	for i, s := range r.sources {
		out[i] = s
	}
	return out
}

// collector reads the sources' figures at scrape time.
type collector Registry

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for i, src := range (*Registry)(c).snapshot() {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
			defer cancel()
			if f := src.Figures(ctx); f != nil {
				emit(ch, strconv.Itoa(i), f)
			}
		})
	}
	wg.Wait()
}
