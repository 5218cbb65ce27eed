package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/compute"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/pipeline"
)

// A job over a drive's files (client.JobRequest.Files): the drive's keys
// stay in the client that unlocked it. The daemon, the job's owner, asks
// that client for each chunk's key once a peer has proved the chunk's key
// nonce (compute.KeyBroker), over a stream the client holds open for the
// job's life; a job whose client does not attach in time, or goes away,
// is cancelled.

// KeysAttach is how long a drive job waits for its client to ask for its
// key requests.
const KeysAttach = 30 * time.Second

// driveJob is one running job whose keys a client holds.
type driveJob struct {
	job      *compute.Job
	broker   *compute.KeyBroker
	attached chan struct{} // closed when the client's stream attaches
	once     sync.Once
}

// driveInputs parses a drive job's files into inputs whose keys broker
// asks the client for.
func driveInputs(files []client.JobFile, broker *compute.KeyBroker) ([]compute.Input, error) {
	var inputs []compute.Input
	for _, f := range files {
		m := &pipeline.Manifest{}
		if len(f.Manifest) > 0 {
			var err error
			if m, err = pipeline.ParseManifest(f.Manifest); err != nil {
				return nil, fmt.Errorf("%w: the file %q: %v", client.ErrRequest, f.Name, err)
			}
		}
		inputs = append(inputs, compute.Input{Name: f.Name, Manifest: m, Keys: broker})
	}
	return inputs, nil
}

// watchDriveJob keeps the job's broker for its client and cancels the
// job if the client does not attach within KeysAttach; the broker closes
// when the job ends.
func (s *Server) watchDriveJob(j *compute.Job, b *compute.KeyBroker) {
	dj := &driveJob{job: j, broker: b, attached: make(chan struct{})}
	s.keysMu.Lock()
	if s.driveJobs == nil {
		s.driveJobs = map[string]*driveJob{}
	}
	id := j.Status().ID
	s.driveJobs[id] = dj
	s.keysMu.Unlock()
	go func() {
		t := time.NewTimer(KeysAttach)
		defer t.Stop()
		select {
		case <-dj.attached:
		case <-t.C:
			s.log.Warn("compute: a drive job's client never asked for its key requests: cancelling it", "job", id)
			b.Close(fmt.Errorf("%w: it never attached", compute.ErrKeysGone))
			j.Cancel()
		case <-j.Done():
		}
		<-j.Done()
		b.Close(nil)
		s.keysMu.Lock()
		delete(s.driveJobs, id)
		s.keysMu.Unlock()
	}()
}

func (s *Server) driveJob(w http.ResponseWriter, r *http.Request) *driveJob {
	s.keysMu.Lock()
	dj := s.driveJobs[r.PathValue("id")]
	s.keysMu.Unlock()
	if dj == nil {
		writeError(w, fmt.Errorf("%w: %s is not a running job over a drive's files", client.ErrNoJob, r.PathValue("id")))
	}
	return dj
}

// jobKeys streams a drive job's key requests to its client, one JSON
// object per line, until the job ends. When the client goes first, the
// job is cancelled: nothing else can answer its keys.
func (s *Server) jobKeys(w http.ResponseWriter, r *http.Request) {
	dj := s.driveJob(w, r)
	if dj == nil {
		return
	}
	first := false
	dj.once.Do(func() { first = true })
	if !first {
		writeError(w, fmt.Errorf("%w: another client already answers this job's keys", client.ErrRequest))
		return
	}
	close(dj.attached)
	defer func() {
		select {
		case <-dj.job.Done():
		default:
			s.log.Warn("compute: a drive job's client went away: cancelling it", "job", r.PathValue("id"))
			dj.broker.Close(nil)
			dj.job.Cancel()
		}
	}()
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for {
		reqs, err := dj.broker.Next(r.Context())
		if err != nil {
			return
		}
		for _, q := range reqs {
			out := client.KeyRequest{Seq: q.Seq, Nonce: q.Nonce}
			if q.Nonce == nil {
				out.Keyed = q.Keyed[:]
			}
			if err := enc.Encode(out); err != nil {
				return
			}
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// answerKeys takes a drive job's client's answers.
func (s *Server) answerKeys(w http.ResponseWriter, r *http.Request) {
	dj := s.driveJob(w, r)
	if dj == nil {
		return
	}
	body, err := readBody(r, client.MaxKeyAnswers)
	if err != nil {
		writeError(w, err)
		return
	}
	var as []client.KeyAnswer
	if err := json.Unmarshal(body, &as); err != nil {
		writeError(w, fmt.Errorf("%w: %v", client.ErrRequest, err))
		return
	}
	for _, a := range as {
		var k crypt.ObjectKey
		var kerr error
		if a.Error != "" {
			kerr = fmt.Errorf("%s", a.Error)
		} else if k, kerr = crypt.ParseObjectKey(a.Key); kerr != nil {
			k = crypt.ObjectKey{}
		}
		if err := dj.broker.Answer(a.Seq, k, kerr); err != nil {
			writeError(w, fmt.Errorf("%w: %v", client.ErrRequest, err))
			return
		}
	}
	writeJSON(w, struct{}{})
}
