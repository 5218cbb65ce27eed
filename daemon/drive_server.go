package daemon

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/store"
)

// The drive's endpoints serve Server.Drive, the node's drive.Cloud, to a
// mount in another process (client.Client's Drive); the client's doc.go
// lists them. Shards and root records travel as raw bytes, with their
// lengths in Content-Length; the rest as JSON. Holders, which are binary
// (peer IDs), travel as unpadded base64url in a query and as base64 in
// JSON.

// Bounds of the drive's requests.
const (
	maxRenewBody = client.MaxRenewBatch * 512
	// maxHints bounds the hints of one get.
	maxHints = erasure.MaxShards
)

func (s *Server) driveRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /v1/drive/shards/{id}", s.drivePut)
	mux.HandleFunc("GET /v1/drive/shards/{id}", s.driveGet)
	mux.HandleFunc("POST /v1/drive/stripes", s.drivePutStripe)
	mux.HandleFunc("POST /v1/drive/roots", s.drivePublish)
	mux.HandleFunc("GET /v1/drive/roots/{drive}", s.driveLookup)
	mux.HandleFunc("POST /v1/drive/renew", s.driveLeases(true))
	mux.HandleFunc("POST /v1/drive/release", s.driveLeases(false))
	mux.HandleFunc("GET /v1/drive/space", s.driveSpace)
}

// readBody reads a body of a declared length of at most limit bytes into
// one buffer of that length.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	n := r.ContentLength
	switch {
	case n < 0:
		return nil, fmt.Errorf("%w: the body's length is required", client.ErrRequest)
	case n > limit:
		return nil, fmt.Errorf("%w: %d bytes, at most %d", client.ErrTooLarge, n, limit)
	}
	b := make([]byte, n)
	if m, err := io.ReadFull(r.Body, b); err != nil {
		return nil, fmt.Errorf("%w: the body ended after %d of %d bytes: %v", client.ErrRequest, m, n, err)
	}
	return b, nil
}

func shardID(r *http.Request) (erasure.ShardID, error) {
	id, err := erasure.ParseShardID(r.PathValue("id"))
	if err != nil {
		return id, fmt.Errorf("%w: %w", client.ErrRequest, err)
	}
	return id, nil
}

func (s *Server) drivePut(w http.ResponseWriter, r *http.Request) {
	id, err := shardID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := readBody(r, erasure.MaxShardSize)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.drive.Put(r.Context(), id, b); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) driveGet(w http.ResponseWriter, r *http.Request) {
	id, err := shardID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()["hint"]
	if len(q) > maxHints {
		writeError(w, fmt.Errorf("%w: %d hints, at most %d", client.ErrRequest, len(q), maxHints))
		return
	}
	hints := make([]store.Holder, 0, len(q))
	for _, h := range q {
		b, err := base64.RawURLEncoding.DecodeString(h)
		if err != nil || len(b) == 0 || len(b) > store.MaxHolderLen {
			writeError(w, fmt.Errorf("%w: hint %q is not the base64url of 1 to %d bytes", client.ErrRequest, h, store.MaxHolderLen))
			return
		}
		hints = append(hints, store.Holder(b))
	}
	b, err := s.drive.GetHinted(r.Context(), id, hints)
	if err != nil {
		writeError(w, err)
		return
	}
	writeBytes(w, b)
}

func writeBytes(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// drivePutStripe reads the descriptor first and checks that the body is
// as long as it says, then reads the rest into one buffer the shards
// alias: the body is read once, and memory is taken only for a stripe
// whose descriptor is valid.
func (s *Server) drivePutStripe(w http.ResponseWriter, r *http.Request) {
	n := r.ContentLength
	switch {
	case n < 0:
		writeError(w, fmt.Errorf("%w: the body's length is required", client.ErrRequest))
		return
	case n > client.MaxStripeBody:
		writeError(w, fmt.Errorf("%w: a stripe of %d bytes, at most %d", client.ErrTooLarge, n, client.MaxStripeBody))
		return
	}
	head := make([]byte, min(n, client.MaxStripeHead))
	if _, err := io.ReadFull(r.Body, head); err != nil {
		writeError(w, fmt.Errorf("%w: the body ended early: %v", client.ErrRequest, err))
		return
	}
	want, err := client.StripeLen(head)
	if err != nil {
		writeError(w, err)
		return
	}
	if want != n {
		writeError(w, fmt.Errorf("%w: a body of %d bytes for a stripe of %d", client.ErrBadStripe, n, want))
		return
	}
	body := make([]byte, n)
	copy(body, head)
	if _, err := io.ReadFull(r.Body, body[len(head):]); err != nil {
		writeError(w, fmt.Errorf("%w: the body ended early: %v", client.ErrRequest, err))
		return
	}
	d, shards, err := client.ParseStripe(body)
	if err != nil {
		writeError(w, err)
		return
	}
	holders, err := s.drive.PutStripe(r.Context(), d, shards)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(holders) != len(d.Shards) {
		writeError(w, fmt.Errorf("api: the cloud named %d holders for %d shards", len(holders), len(d.Shards)))
		return
	}
	out := client.StripePut{Holders: make([][]byte, len(holders))}
	for i, h := range holders {
		out.Holders[i] = []byte(h)
	}
	writeJSON(w, out)
}

func (s *Server) drivePublish(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r, rootrec.MaxLen)
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := node.ParseRootRecord(b)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.drive.publish(r.Context(), rec); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) driveLookup(w http.ResponseWriter, r *http.Request) {
	drive, err := hex.DecodeString(r.PathValue("drive"))
	if err != nil || len(drive) != ed25519.PublicKeySize {
		writeError(w, fmt.Errorf("%w: a drive is named by the %d hex digits of its public key", client.ErrRequest, 2*ed25519.PublicKeySize))
		return
	}
	rec, err := s.drive.lookup(r.Context(), drive)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := rec.MarshalBinary()
	if err != nil {
		writeError(w, err)
		return
	}
	writeBytes(w, b)
}

// driveLeases serves renew (renew) and release (!renew) requests.
func (s *Server) driveLeases(renew bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.driveLease(w, r, renew) }
}

func (s *Server) driveLease(w http.ResponseWriter, r *http.Request, renew bool) {
	b, err := readBody(r, maxRenewBody)
	if err != nil {
		writeError(w, err)
		return
	}
	var refs []client.RenewRef
	if err := json.Unmarshal(b, &refs); err != nil {
		writeError(w, fmt.Errorf("%w: %w", client.ErrRequest, err))
		return
	}
	if len(refs) > client.MaxRenewBatch {
		writeError(w, fmt.Errorf("%w: %d shards, at most %d", client.ErrTooLarge, len(refs), client.MaxRenewBatch))
		return
	}
	ids := make([]erasure.ShardID, len(refs))
	hints := make([]store.Holder, len(refs))
	for i, ref := range refs {
		if len(ref.Holder) > store.MaxHolderLen {
			writeError(w, fmt.Errorf("%w: a holder of %d bytes", client.ErrRequest, len(ref.Holder)))
			return
		}
		ids[i], hints[i] = ref.ID, store.Holder(ref.Holder)
	}
	do := s.drive.Renew
	if !renew {
		do = s.drive.Release
	}
	if err := do(r.Context(), ids, hints); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) driveSpace(w http.ResponseWriter, r *http.Request) {
	if err := r.Context().Err(); err != nil {
		writeError(w, err)
		return
	}
	sp, _ := s.n.Space()
	writeJSON(w, client.Space(sp))
}
