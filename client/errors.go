package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
)

var (
	// ErrNotRunning reports that no node answers on the socket.
	ErrNotRunning = errors.New("no node is running here (start one with 'murmur up' or 'murmur node')")

	// ErrUnreachable reports a node whose socket is there but which did
	// not answer, or whose connection broke.
	ErrUnreachable = errors.New("cannot reach the node")

	// ErrShort reports a file transfer that ended before its length.
	ErrShort = errors.New("api: transfer ended early")

	// ErrNoFile reports a file ID the node does not know.
	ErrNoFile = errors.New("no such file")

	// ErrRequest reports a request the API cannot read.
	ErrRequest = errors.New("api: malformed request")
	// ErrTooLarge reports a request body above the endpoint's bound.
	ErrTooLarge = errors.New("api: request too large")

	// ErrBusy and ErrPeer are the node's sentinels of the same text
	// (node.ErrBusy, node.ErrPeer), which this package cannot import: the
	// daemon sends those as these kinds, and the client maps the kinds
	// back to these.
	//
	// ErrBusy reports a peer that refused a request for lack of resources.
	ErrBusy = errors.New("node: peer busy")
	// ErrPeer reports a peer that failed a request or broke the protocol.
	ErrPeer = errors.New("node: peer failed")
)

// ErrorBody is the JSON of an error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// kinds classifies errors for the wire, once; the client maps them back.
// An error matching several is sent as the first.
var kinds = []struct {
	err    error
	kind   string
	status int
}{
	{ErrNoFile, "no_file", http.StatusNotFound},
	{ErrNoJob, "no_job", http.StatusNotFound},
	// Before not_found: too few shards to read a stripe wraps the shards
	// not found, and is what the reader of a file needs to hear.
	{erasure.ErrTooFewShards, "data", http.StatusBadGateway},
	{store.ErrNotFound, "not_found", http.StatusNotFound},
	{drive.ErrNoRoot, "no_root", http.StatusNotFound},
	{rootrec.ErrStale, "stale_root", http.StatusConflict},
	{rootrec.ErrBad, "bad_record", http.StatusBadRequest},
	{store.ErrBadShard, "bad_shard", http.StatusBadRequest},
	{erasure.ErrCorrupt, "corrupt", http.StatusBadGateway},
	{crypt.ErrAuth, "auth", http.StatusForbidden},
	{store.ErrFull, "full", http.StatusInsufficientStorage},
	{pipeline.ErrManifest, "bad_request", http.StatusBadRequest},
	{erasure.ErrDescriptor, "bad_descriptor", http.StatusBadRequest},
	{ErrBadStripe, "bad_stripe", http.StatusBadRequest},
	{ErrRequest, "malformed", http.StatusBadRequest},
	{ErrTooLarge, "too_large", http.StatusRequestEntityTooLarge},
	{placement.ErrNotEnoughPeers, "no_peers", http.StatusServiceUnavailable},
	{ErrBusy, "busy", http.StatusServiceUnavailable},
	{ErrPeer, "peer", http.StatusBadGateway},
}

// Classify returns the kind and the status code an error is sent with:
// those of the first sentinel of the table it matches, else "internal"
// and 500.
func Classify(err error) (kind string, status int) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind, k.status
		}
	}
	return "internal", http.StatusInternalServerError
}

// remoteErr returns the error an answer of e stands for: matching the
// sentinel of its kind, if this client knows the kind.
func remoteErr(e ErrorBody) error {
	for _, k := range kinds {
		if k.kind == e.Kind {
			if strings.Contains(e.Error, k.err.Error()) {
				return &remoteError{msg: e.Error, err: k.err}
			}
			return fmt.Errorf("%w (%s)", k.err, e.Error)
		}
	}
	return errors.New(e.Error)
}

// remoteError is an error the node sent: its message as the node wrote
// it (which names the sentinel already), matching the sentinel its kind
// names.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }
