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
// preview 1, the ABI of docs/compute.md) and the stored files it runs
// over, by ID or name, in order.
type JobRequest struct {
	Module   []byte        `json:"module"` // base64 in JSON
	Inputs   []string      `json:"inputs"`
	Args     []string      `json:"args,omitempty"`
	Fold     bool          `json:"fold,omitempty"`
	Reduce   bool          `json:"reduce,omitempty"`
	Replicas int           `json:"replicas,omitempty"`
	Deadline time.Duration `json:"deadline,omitempty"` // per task, nanoseconds
	Memory   int64         `json:"memory,omitempty"`   // per task, bytes; 0: 256 MiB
}

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
