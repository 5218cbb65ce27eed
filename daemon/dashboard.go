package daemon

import (
	"context"
	"fmt"
	"net/http"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/dashboard"
)

// The web dashboard (package dashboard): the daemon serves it on a
// loopback port, from its node's state, and tells its URL, token
// included, to whoever can reach its API socket (GET /v1/dashboard, for
// `murmur dashboard`).

// DashboardConfig configures the daemon's dashboard.
type DashboardConfig struct {
	Addr      string // a loopback address, e.g. 127.0.0.1:0 for any free port
	TokenFile string // where the token is kept, mode 0600
	// Drives and Backups, if set, list the node's mounted drives and
	// scheduled backups, which live above the daemon (in the commands).
	Drives  func(context.Context) []dashboard.Drive
	Backups func() []dashboard.Backup
}

// StartDashboard serves the dashboard until ctx ends and returns its URL.
func (s *Server) StartDashboard(ctx context.Context, cfg DashboardConfig) (string, error) {
	token, err := dashboard.LoadToken(cfg.TokenFile)
	if err != nil {
		return "", err
	}
	d, err := dashboard.New(dashboard.Config{Source: &dashSource{s: s, cfg: cfg}, Token: token, Logger: s.log})
	if err != nil {
		return "", err
	}
	ln, err := dashboard.Listen(cfg.Addr)
	if err != nil {
		return "", err
	}
	url := dashboard.URL(ln, token)
	s.mu.Lock()
	s.dashURL = url
	s.mu.Unlock()
	go func() {
		if err := dashboard.Serve(ctx, ln, d); err != nil {
			s.log.Error("dashboard", "err", err)
		}
	}()
	return url, nil
}

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/dashboard", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, client.Dashboard{URL: s.dashURL})
	})
}

// dashSource is the daemon's node as the dashboard's source.
type dashSource struct {
	s   *Server
	cfg DashboardConfig
}

func (d *dashSource) Traffic() (in, out int64) { return d.s.n.Traffic() }

func (d *dashSource) Snapshot(ctx context.Context) (*dashboard.Snapshot, error) {
	s, n := d.s, d.s.n
	g := n.GossipStatus()
	sp, disk := n.Space()
	au := n.AuditStatus()
	snap := &dashboard.Snapshot{
		Node: n.ID().String(), Cloud: n.CloudID(), Zone: n.Zone(),
		Size: g.Size, Capacity: g.Capacity, Free: g.Free, Stored: g.Stored, Space: client.Space(sp),
		StoredBytes: n.Store().Used(), QuotaBytes: n.Store().Capacity(), Files: len(s.cat.list()),
		Repairs: repairStatus(n.RepairStatus()), Audits: auditStatus(au),
	}
	if c, err := s.codeFrom(g); err != nil {
		snap.CodeError = err.Error()
	} else {
		snap.Code = fmt.Sprintf("k%d m%d", c.K, c.M)
	}
	free := int64(-1)
	if q := n.Store().Capacity(); q > 0 {
		free = max(q-snap.StoredBytes, 0)
	} else if disk.Size > 0 {
		free = disk.Avail / int64(max(disk.Nodes, 1)) // its share of a disk shared by several nodes
	}
	snap.Members = append(snap.Members, dashboard.Member{ID: snap.Node, Self: true, Zone: snap.Zone, Reliability: 1, Free: free, Stored: snap.StoredBytes})
	audits := map[string]client.PeerAudits{}
	for _, pa := range au.Peers {
		audits[pa.ID] = client.PeerAudits{Passed: pa.Passed, Failed: pa.Failed, Missing: pa.Missing, TimedOut: pa.TimedOut, Last: pa.Last}
	}
	for _, p := range g.Peers {
		snap.Members = append(snap.Members, dashboard.Member{ID: p.ID, Zone: p.Zone, Reliability: p.Reliability, Evidence: p.Evidence, Free: p.Free, Audits: audits[p.ID]})
	}
	if o := s.jobs.made(); o != nil {
		for _, st := range o.Jobs() {
			snap.Jobs = append(snap.Jobs, jobWire(st))
		}
	}
	if d.cfg.Drives != nil {
		snap.Drives = d.cfg.Drives(ctx)
	}
	if d.cfg.Backups != nil {
		snap.Backups = d.cfg.Backups()
	}
	return snap, nil
}
