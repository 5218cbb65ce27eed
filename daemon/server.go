package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
	"github.com/murmur-cloud/murmur/metrics"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// Server serves the API of one node.
type Server struct {
	n     *node.Node
	cloud *node.Cloud
	drive *DriveCloud // the same cloud as a drive sees it
	cfg   pipeline.Config
	cat   *catalog
	log   *slog.Logger

	firstRenew time.Duration // after start, before the first lease renewal
	target     float64       // wanted probability that a stripe is readable
	codes      codes         // the code of new files (code.go)

	mu      sync.Mutex
	leases  client.LeaseStatus
	renewed metrics.Leases // the renewals' totals since the start (metrics.go)
	dashURL string         // the dashboard's, once it serves (dashboard.go)

	jobs jobs

	// The catalog's copy in the cloud (catalogsync.go).
	syncMu     sync.Mutex // one sync at a time; guards syncSt
	syncSt     syncState
	syncPath   string
	syncPeriod time.Duration      // 0: no syncing (tests of the catalog alone)
	catSync    client.CatalogSync // guarded by mu

	keysMu    sync.Mutex
	driveJobs map[string]*driveJob // by job ID
}

// FirstRenewal is how long after it starts serving the daemon renews its
// leases for the first time.
const FirstRenewal = time.Minute

// driveKeyFile holds the node's drive key: the master key and drive ID in
// hex, readable by the owner only, like the node's identity key.
const driveKeyFile = "drive.key"

// NewServer returns the API of n, keeping its drive key and catalog in dir.
func NewServer(n *node.Node, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keys, err := loadDriveKey(filepath.Join(dir, driveKeyFile), filepath.Join(dir, catalogFile))
	if err != nil {
		return nil, err
	}
	cat, err := openCatalog(filepath.Join(dir, catalogFile))
	if err != nil {
		return nil, err
	}
	if err := checkCatalogKey(keys, cat); err != nil {
		return nil, fmt.Errorf("api: %s: %w", filepath.Join(dir, driveKeyFile), err)
	}
	syncSt, err := loadSyncState(filepath.Join(dir, syncFile))
	if err != nil {
		return nil, err
	}
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return nil, err
	}
	cloud := n.Cloud(placer)
	s := &Server{
		n: n, cloud: cloud, drive: NewDriveCloud(n, cloud), target: placement.DefaultTarget,
		cfg: pipeline.Config{Keys: keys, Logger: log}, cat: cat, log: log,
		firstRenew: FirstRenewal,
		syncSt:     syncSt, syncPath: filepath.Join(dir, syncFile), syncPeriod: CatalogSyncPeriod,
	}
	if err := s.SetCodePolicy(CodePolicy{}); err != nil {
		return nil, err
	}
	return s, nil
}

// Drive returns the node's cloud as a drive mounted in this process sees
// it: the drive.Cloud that the /v1/drive endpoints serve to other processes.
func (s *Server) Drive() *DriveCloud { return s.drive }

const catalogFile = "catalog.json"

// loadDriveKey reads the drive key, or makes one if the node has none yet;
// it refuses to make a new one beside a catalog of files sealed under the
// old one.
func loadDriveKey(path, catalog string) (*crypt.Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, iofs.ErrNotExist) {
		if _, err := os.Stat(catalog); err == nil {
			return nil, fmt.Errorf("api: the drive key %s is missing but files were stored with it (%s): restore it from a backup", path, catalog)
		}
		var mk crypt.MasterKey
		if _, err := rand.Read(mk[:]); err != nil {
			return nil, err
		}
		d := crypt.NewDriveID()
		line := hex.EncodeToString(mk[:]) + " " + d.String() + "\n"
		if err := atomicfile.WriteFile(path, []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("api: save drive key: %w", err)
		}
		return mk.Keys(d), nil
	}
	if err != nil {
		return nil, fmt.Errorf("api: read drive key: %w", err)
	}
	f := strings.Fields(string(b))
	var mk crypt.MasterKey
	if len(f) != 2 || hex.DecodedLen(len(f[0])) != len(mk) {
		return nil, fmt.Errorf("api: drive key %s is damaged", path)
	}
	if _, err := hex.Decode(mk[:], []byte(f[0])); err != nil {
		return nil, fmt.Errorf("api: drive key %s is damaged: %w", path, err)
	}
	d, err := crypt.ParseDriveID(f[1])
	if err != nil {
		return nil, fmt.Errorf("api: drive key %s is damaged: %w", path, err)
	}
	return mk.Keys(d), nil
}

// SetTarget sets the wanted probability that a stripe of a file stored
// from now on is readable, from which k and m are chosen (code.go). Call
// it before Serve.
func (s *Server) SetTarget(t float64) error {
	if !(t > 0 && t < 1) {
		return fmt.Errorf("api: durability target %v not in (0, 1)", t)
	}
	s.target = t
	p := s.codePolicy()
	p.Selector.Params.Target = t
	return s.SetCodePolicy(p)
}

// Serve answers on a unix socket at path until ctx ends. The socket is
// made in a folder only the owner can enter, with mode 0600.
func (s *Server) Serve(ctx context.Context, path string) error {
	return s.ServeReady(ctx, path, nil)
}

// ServeReady is Serve, calling ready (if not nil) once the socket at path
// accepts connections, so that whatever it announces can be used at once.
func (s *Server) ServeReady(ctx context.Context, path string, ready func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("api: a node already answers on %s", path)
	}
	os.Remove(path) // a socket left by a node that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("api: %w", err)
	}
	if ready != nil {
		if err := ready(); err != nil {
			ln.Close()
			os.Remove(path)
			return err
		}
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	kctx, stopKeeping := context.WithCancel(ctx)
	defer stopKeeping()
	go s.keepLeases(kctx)
	if s.syncPeriod > 0 {
		go s.keepCatalog(kctx, s.syncPeriod)
	}
	go s.keepCode(kctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	s.closeJobs()
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/peers", s.peers)
	mux.HandleFunc("POST /v1/files", s.put)
	mux.HandleFunc("GET /v1/files", s.list)
	mux.HandleFunc("GET /v1/files/{id}", s.get)
	mux.HandleFunc("DELETE /v1/files/{id}", s.del)
	mux.HandleFunc("POST /v1/leases/renew", s.renewNow)
	s.jobRoutes(mux)
	s.driveRoutes(mux)
	s.dashboardRoutes(mux)
	return mux
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	g := s.n.GossipStatus()
	sp, disk := s.n.Space()
	st := client.Status{
		ID: s.n.ID().String(), Cloud: s.n.CloudID(), Peers: len(s.n.Peers()),
		Reachability: s.n.Reachability(),
		StoredBytes:  s.n.Store().Used(), Capacity: s.n.Store().Capacity(), Files: len(s.cat.list()),
		Leases: s.leaseStatus(), Catalog: s.catalogSync(), Gossip: gossipStatus(g), Space: client.Space(sp), Disk: client.DiskStatus(disk),
		Providers: client.AnnounceStats(s.n.AnnounceStats()),
		Audits:    auditStatus(s.n.AuditStatus()),
		Repairs:   repairStatus(s.n.RepairStatus()),
	}
	st.ComputeSlots, st.ComputeMemory = s.n.ComputeConfig()
	if c, err := s.codeState(g); err != nil {
		st.CodeError = err.Error()
	} else {
		st.Code, st.CodeState = &c.Code, &c
	}
	writeJSON(w, st)
}

func (s *Server) leaseStatus() client.LeaseStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases
}

func (s *Server) del(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rep, err := s.remove(r.Context(), id)
	if errors.Is(err, client.ErrNoFile) {
		writeError(w, err)
		return
	}
	if err != nil {
		// The file is gone from the catalog; what was not released expires.
		s.log.Warn("releasing a removed file's shards failed", "id", id, "err", err)
	}
	writeJSON(w, client.Removed{ID: id, Released: rep.Done, Failed: rep.Failed})
}

func (s *Server) renewNow(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.renew(r.Context()))
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	audits := map[string]node.PeerAudits{}
	for _, pa := range s.n.AuditStatus().Peers {
		audits[pa.ID] = pa
	}
	ratings := map[string]node.PeerStatus{}
	for _, ps := range s.n.GossipStatus().Peers {
		ratings[ps.ID] = ps
	}
	out := []client.Peer{}
	for _, p := range s.n.Peers() {
		var addrs []string
		for _, a := range s.n.Host().Peerstore().Addrs(p) {
			addrs = append(addrs, a.String())
		}
		pa, ps := audits[p.String()], ratings[p.String()]
		in, sent := s.n.PeerTraffic(p)
		out = append(out, client.Peer{
			ID: p.String(), Addrs: addrs, Conn: s.n.ConnKind(p), InBytes: in, OutBytes: sent,
			Reliability: ps.Reliability, Evidence: ps.Evidence,
			Audits: client.PeerAudits{Passed: pa.Passed, Failed: pa.Failed, Missing: pa.Missing, TimedOut: pa.TimedOut, Last: pa.Last},
			Slots:  ps.Slots, SlotsFree: ps.SlotsFree,
		})
	}
	writeJSON(w, out)
}

// auditStatus is node.AuditStatus on the wire.
func auditStatus(a node.AuditStatus) client.AuditStatus {
	return client.AuditStatus{
		Stripes: a.Stripes, Targets: a.Targets, Passed: a.Passed, Failed: a.Failed, Missing: a.Missing, TimedOut: a.TimedOut,
		Scrubbed: a.Scrubbed, ScrubCorrupt: a.ScrubCorrupt, ScrubMissing: a.ScrubMissing, ScrubLag: a.ScrubLag, RepairQueue: a.RepairQueue,
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	cfg := s.cfg
	code, err := s.code()
	if err != nil {
		writeError(w, err)
		return
	}
	k, m := code.K, code.M
	cfg.K, cfg.M = k, m
	tr := s.cloud.Track()
	defer tr.Done() // once the file is in the catalog, or undone
	man, err := pipeline.Write(r.Context(), cfg, tr, r.Body)
	if err != nil {
		s.undoPut(tr)
		writeError(w, fmt.Errorf("store %q: %w", name, err))
		return
	}
	id, sealed, err := pipeline.SealManifest(s.cfg.Keys, man)
	if err != nil {
		writeError(w, err)
		return
	}
	e := client.Entry{ID: id.String(), Name: name, Size: man.Size, Created: time.Now().UTC(), K: k, M: m, Manifest: sealed}
	if err := s.cat.add(e); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("stored a file", "id", e.ID, "name", name, "size", man.Size, "k", k, "m", m)
	e.Manifest = nil
	writeJSON(w, e)
}

// undoPut gives back what a failed put stored, but for the shards the
// catalog's files reference (the same bytes stored again).
func (s *Server) undoPut(tr *node.Tracked) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kept, err := s.refsOf(s.cat.list())
	if err != nil {
		s.log.Warn("a failed put's shards are kept until their leases end: the catalog could not be read", "err", err)
		return
	}
	still := map[erasure.ShardID]bool{}
	for _, r := range kept {
		still[r.ID] = true
	}
	rep, err := tr.Undo(ctx, func(id erasure.ShardID) bool { return still[id] })
	if err != nil {
		s.log.Warn("a failed put's shards were not all released; the rest go when their leases end", "err", err)
	}
	if rep.Done > 0 {
		s.log.Info("released a failed put's shards", "shards", rep.Done, "stripes", rep.Stripes)
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	if s.syncPeriod > 0 && len(s.n.Peers()) > 0 && time.Since(s.catalogSync().Last) > 2*time.Second {
		// Files put or removed through another node with the catalog's
		// key since the last sync are listed as they are now.
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		s.syncCatalog(ctx)
		cancel()
	}
	list := s.cat.list()
	for i := range list {
		list[i].Manifest = nil
	}
	writeJSON(w, list)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	e, ok := s.cat.get(r.PathValue("id"))
	if !ok && s.syncPeriod > 0 && len(s.n.Peers()) > 0 {
		// Perhaps put through another node with the catalog's key, since
		// the last sync.
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		s.syncCatalog(ctx)
		cancel()
		e, ok = s.cat.get(r.PathValue("id"))
	}
	if !ok {
		writeError(w, fmt.Errorf("%w: %s", client.ErrNoFile, r.PathValue("id")))
		return
	}
	m, err := s.manifest(e)
	if err != nil {
		writeError(w, err)
		return
	}
	rd, err := pipeline.NewReader(r.Context(), s.cfg, s.cloud, m)
	if err != nil {
		writeError(w, err)
		return
	}
	// Chunked, not Content-Length: a read failing midway sends its
	// error in the trailer, as the status is sent already.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(client.SizeHeader, strconv.FormatInt(m.Size, 10))
	w.Header().Set("Trailer", client.ErrorTrailer)
	if _, err := rd.WriteTo(w); err != nil {
		s.log.Warn("read of a file failed midway", "id", e.ID, "err", err)
		kind, _ := client.Classify(err)
		b, _ := json.Marshal(client.ErrorBody{Error: err.Error(), Kind: kind})
		w.Header().Set(client.ErrorTrailer, string(b))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, fmt.Errorf("api: encode the answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
