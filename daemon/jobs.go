package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
)

// Jobs (package compute): the daemon is the owner of the jobs asked of
// it, over the files of its catalog, whose keys it holds; its node's
// worker (SetWorker), if it offers compute slots, runs tasks for every
// owner of the cloud, this one too.

// jobs is the daemon's compute owner, made at its first job.
type jobs struct {
	once   sync.Once
	owner  *compute.Owner
	err    error
	worker *compute.Worker
	ready  atomic.Bool // the owner is made
}

// made returns the owner if it is made, without making it.
func (j *jobs) made() *compute.Owner {
	if !j.ready.Load() {
		return nil
	}
	return j.owner
}

// SetWorker tells the server its node's compute worker, which runs the
// runs the node's own jobs give it.
func (s *Server) SetWorker(w *compute.Worker) { s.jobs.worker = w }

// Owner returns the server's compute owner, made on first use.
func (s *Server) Owner() (*compute.Owner, error) {
	j := &s.jobs
	j.once.Do(func() {
		rt, err := sandbox.New(context.Background(), sandbox.Config{Logger: s.log})
		if err != nil {
			j.err = err
			return
		}
		env := compute.NewNodeEnv(s.n, s.cloud)
		env.Dialer.Self = j.worker
		j.owner, j.err = compute.NewOwner(compute.OwnerConfig{Env: env, Keys: s.cfg, Runtime: rt, Logger: s.log})
		j.ready.Store(j.err == nil)
	})
	return j.owner, j.err
}

func (s *Server) jobRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/jobs", s.startJob)
	mux.HandleFunc("GET /v1/jobs", s.listJobs)
	mux.HandleFunc("GET /v1/jobs/{id}", s.jobStatus)
	mux.HandleFunc("GET /v1/jobs/{id}/output", s.jobOutput)
	mux.HandleFunc("DELETE /v1/jobs/{id}", s.cancelJob)
	mux.HandleFunc("GET /v1/jobs/{id}/keys", s.jobKeys)
	mux.HandleFunc("POST /v1/jobs/{id}/keys", s.answerKeys)
}

// resolve finds a stored file by ID, or by name when one file has it.
func (s *Server) resolve(ref string) (client.Entry, error) {
	if e, ok := s.cat.get(ref); ok {
		return e, nil
	}
	var found []client.Entry
	for _, e := range s.cat.list() {
		if e.Name == ref {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return client.Entry{}, fmt.Errorf("%w: %s", client.ErrNoFile, ref)
	}
	ids := make([]string, len(found))
	for i, e := range found {
		ids[i] = e.ID[:12]
	}
	return client.Entry{}, fmt.Errorf("%w: %d files are named %q (%s): name one by its ID", client.ErrRequest, len(found), ref, strings.Join(ids, ", "))
}

func (s *Server) startJob(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, client.MaxJobRequest)
	if err != nil {
		writeError(w, err)
		return
	}
	var req client.JobRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, fmt.Errorf("%w: %v", client.ErrRequest, err))
		return
	}
	switch {
	case len(req.Inputs) == 0 && len(req.Files) == 0:
		writeError(w, fmt.Errorf("%w: a job needs at least one input file", client.ErrRequest))
		return
	case len(req.Inputs) > 0 && len(req.Files) > 0:
		writeError(w, fmt.Errorf("%w: a job reads stored files or a drive's files, not both", client.ErrRequest))
		return
	}
	var broker *compute.KeyBroker
	var inputs []compute.Input
	if len(req.Files) > 0 {
		broker = compute.NewKeyBroker()
		if inputs, err = driveInputs(req.Files, broker); err != nil {
			writeError(w, err)
			return
		}
	}
	for _, ref := range req.Inputs {
		e, err := s.resolve(ref)
		if err != nil {
			writeError(w, err)
			return
		}
		m, err := s.manifest(e)
		if err != nil {
			writeError(w, err)
			return
		}
		inputs = append(inputs, compute.Input{Name: e.Name, Manifest: m})
	}
	o, err := s.Owner()
	if err != nil {
		writeError(w, err)
		return
	}
	j, err := o.Start(compute.Spec{Module: req.Module, Args: req.Args, Fold: req.Fold, Reduce: req.Reduce,
		Replicas: req.Replicas, Deadline: req.Deadline, Memory: req.Memory}, inputs)
	if err != nil {
		// A module that does not compile, a spec out of bounds: what
		// was asked cannot run.
		writeError(w, fmt.Errorf("%w: %v", client.ErrRequest, err))
		return
	}
	if broker != nil {
		s.watchDriveJob(j, broker)
	}
	writeJSON(w, jobWire(j.Status()))
}

func jobWire(s compute.JobStatus) client.Job { return client.Job(s) }

func (s *Server) job(w http.ResponseWriter, r *http.Request) *compute.Job {
	id, err := compute.ParseJobID(r.PathValue("id"))
	if err != nil {
		writeError(w, fmt.Errorf("%w: %v", client.ErrNoJob, err))
		return nil
	}
	o, err := s.Owner()
	if err != nil {
		writeError(w, err)
		return nil
	}
	j := o.Job(id)
	if j == nil {
		writeError(w, fmt.Errorf("%w: %s", client.ErrNoJob, id))
	}
	return j
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	o, err := s.Owner()
	if err != nil {
		writeError(w, err)
		return
	}
	out := []client.Job{}
	for _, st := range o.Jobs() {
		out = append(out, jobWire(st))
	}
	writeJSON(w, out)
}

func (s *Server) jobStatus(w http.ResponseWriter, r *http.Request) {
	if j := s.job(w, r); j != nil {
		writeJSON(w, jobWire(j.Status()))
	}
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	j.Cancel()
	<-j.Done()
	writeJSON(w, jobWire(j.Status()))
}

func (s *Server) jobOutput(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	if st := j.Status(); st.State != compute.StateDone {
		writeError(w, fmt.Errorf("%w: job %s is %s, it has no output", client.ErrRequest, st.ID[:12], st.State))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(j.Output())
}

// StartCompute makes the server's node a compute peer if it offers
// slots (node.Config.ComputeSlots): its worker serves every owner's
// tasks, this server's own too. It returns a function that stops it.
func (s *Server) StartCompute(ctx context.Context) (func(), error) {
	w, stop, err := compute.StartNode(ctx, s.n, s.cloud, s.log, nil)
	if err != nil {
		return nil, err
	}
	s.SetWorker(w)
	return stop, nil
}

// StartWorker makes n, a node without a server of its own (the other
// nodes of `murmur up`), a compute peer if it offers slots.
func StartWorker(ctx context.Context, n *node.Node, log *slog.Logger) (func(), error) {
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return nil, err
	}
	_, stop, err := compute.StartNode(ctx, n, n.Cloud(placer), log, nil)
	return stop, err
}

// closeJobs cancels the running jobs when the server stops.
func (s *Server) closeJobs() {
	if s.jobs.owner != nil {
		s.jobs.owner.Close()
	}
}
