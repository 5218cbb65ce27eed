package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ErrNoJob reports a job ID the node does not know.
var ErrNoJob = errors.New("no such job")

// JobRequest is the body of POST /v1/jobs: a WebAssembly module (WASI
// preview 1, the ABI of docs/compute.md) and what it runs over, in order:
// stored files by ID or name (Inputs), or a drive's files (Files), whose
// keys stay with the client: it answers the job's key requests
// (ServeJobKeys) until the job ends, and a job whose client goes away is
// cancelled.
type JobRequest struct {
	Module   []byte        `json:"module"` // base64 in JSON
	Inputs   []string      `json:"inputs,omitempty"`
	Files    []JobFile     `json:"files,omitempty"`
	Args     []string      `json:"args,omitempty"`
	Fold     bool          `json:"fold,omitempty"`
	Reduce   bool          `json:"reduce,omitempty"`
	Replicas int           `json:"replicas,omitempty"`
	Deadline time.Duration `json:"deadline,omitempty"` // per task, nanoseconds
	Memory   int64         `json:"memory,omitempty"`   // per task, bytes; 0: 256 MiB
}

// JobFile is one file of a drive as a job's input: its path in the drive
// and how its last upload stored it (pipeline.Manifest's binary form,
// without keys: a drive's chunks are sealed under per-object keys the
// client derives when asked).
type JobFile struct {
	Name     string `json:"name"`
	Manifest []byte `json:"manifest,omitempty"` // nil: an empty file
}

// KeyRequest asks the client of a drive job for one chunk's key: the
// chunk's key nonce (crypt.KeyNonce) that a peer proved, or a keyed
// chunk's own key. GET /v1/jobs/{id}/keys streams them, one JSON object
// per line.
type KeyRequest struct {
	Seq   uint64 `json:"seq"`
	Nonce []byte `json:"nonce,omitempty"`
	Keyed []byte `json:"keyed,omitempty"`
}

// KeyAnswer answers a KeyRequest: the chunk's crypt.ObjectKey in its
// binary form, or why there is none. POST /v1/jobs/{id}/keys takes a list.
type KeyAnswer struct {
	Seq   uint64 `json:"seq"`
	Key   []byte `json:"key,omitempty"`
	Error string `json:"error,omitempty"`
}

// MaxKeyAnswers bounds the body of POST /v1/jobs/{id}/keys.
const MaxKeyAnswers = 1 << 20

// MaxJobRequest bounds the body of POST /v1/jobs.
const MaxJobRequest = 128 << 20

// Job is a job's progress, as GET /v1/jobs/{id} answers.
type Job struct {
	ID         string    `json:"id"`
	State      string    `json:"state"` // running, done, failed, cancelled
	Error      string    `json:"error,omitempty"`
	Inputs     int       `json:"inputs"`
	InputBytes int64     `json:"input_bytes"`
	Tasks      int       `json:"tasks"`
	Done       int       `json:"done"`
	Local      int       `json:"local"`
	Verified   int       `json:"verified"`
	Runs       int       `json:"runs"`
	Wrong      int       `json:"wrong"`
	Backlog    int       `json:"backlog"`
	Slice      int       `json:"slice"` // compute peers in the job's slice now
	Network    int64     `json:"network_bytes"`
	OutputLen  int       `json:"output_bytes"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended,omitzero"`
	Seconds    float64   `json:"seconds"`
	Replicas   int       `json:"replicas"`
	ModuleHash string    `json:"module"`
}

// Finished reports whether the job has ended.
func (j *Job) Finished() bool { return j.State != "running" }

// StartJob starts a job.
func (c *Client) StartJob(ctx context.Context, r JobRequest) (*Job, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return call[Job](ctx, c, http.MethodPost, "/v1/jobs", bytes.NewReader(b))
}

// Jobs lists the node's jobs, oldest first.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var js []Job
	return js, c.getJSON(ctx, "/v1/jobs", &js)
}

// Job returns a job's progress.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var j Job
	return &j, c.getJSON(ctx, "/v1/jobs/"+url.PathEscape(id), &j)
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, id string) (*Job, error) {
	return call[Job](ctx, c, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), nil)
}

// JobOutput writes a finished job's output to w.
func (c *Client) JobOutput(ctx context.Context, id string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://murmur/v1/jobs/"+url.PathEscape(id)+"/output", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("job output: %w", err)
	}
	return n, nil
}

// ServeJobKeys answers job id's key requests with derive until the job
// ends (the daemon ends the stream: nil) or ctx does. derive returns a
// chunk key's binary form.
func (c *Client) ServeJobKeys(ctx context.Context, id string, derive func(KeyRequest) ([]byte, error)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://murmur/v1/jobs/"+url.PathEscape(id)+"/keys", nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var r KeyRequest
		if err := dec.Decode(&r); err == io.EOF {
			return nil
		} else if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("job %s: the key requests: %w", id, err)
		}
		a := KeyAnswer{Seq: r.Seq}
		if k, err := derive(r); err != nil {
			a.Error = err.Error()
		} else {
			a.Key = k
		}
		b, err := json.Marshal([]KeyAnswer{a})
		if err != nil {
			return err
		}
		if _, err := call[struct{}](ctx, c, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/keys", bytes.NewReader(b)); err != nil {
			return fmt.Errorf("job %s: answering a key request: %w", id, err)
		}
	}
}
