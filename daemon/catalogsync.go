package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/murmur-cloud/murmur/client"
	fsdrive "github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
)

// The catalog lives in the cloud as well as on the node's disk. Its
// document (catalogDoc, with the files' sealed manifests) is stored as an
// encrypted file of its own, and a root record signed by the catalog's key
// (the node's drive.key) points to the newest: the record's value is a
// catalogRef. Any node holding the same key — another machine given a
// copy of drive.key, or this one after its disk is replaced — finds the
// record, reads the document, merges it with its own (catalogdoc.go) and,
// if it knows anything the cloud's copy lacks, publishes the merge under
// the next sequence number. Two publishers racing for one number lose
// nothing: the loser's publish is refused (rootrec.ErrStale), and it
// merges the winner's document and tries again.
//
// The node renews the leases of the document the record points to, with
// its files', and releases the documents it wrote once a newer one is
// published. A member without the key sees a record, its sequence number
// and the size of an encrypted file: not the names, sizes or number of
// files.

// catalogRefVersion is the first byte of a catalogRef.
const catalogRefVersion = 1

// catalogRef is a root record's value: where a catalog document is.
//
//	version(1) | manifest ID(32) | sealed manifest
type catalogRef struct {
	ID     pipeline.ManifestID
	Sealed []byte
}

var errCatalogRef = errors.New("api: malformed catalog reference")

func (r catalogRef) marshal() []byte {
	b := append([]byte{catalogRefVersion}, r.ID[:]...)
	return append(b, r.Sealed...)
}

func parseCatalogRef(b []byte) (catalogRef, error) {
	var r catalogRef
	switch {
	case len(b) < 1+len(r.ID)+1:
		return r, fmt.Errorf("%w: %d bytes", errCatalogRef, len(b))
	case len(b) > fsdrive.MaxRootValue:
		return r, fmt.Errorf("%w: %d bytes, more than %d", errCatalogRef, len(b), fsdrive.MaxRootValue)
	case b[0] != catalogRefVersion:
		return r, fmt.Errorf("%w: version %d", errCatalogRef, b[0])
	}
	copy(r.ID[:], b[1:])
	r.Sealed = bytes.Clone(b[1+len(r.ID):])
	return r, nil
}

// entry is the document as a file entry, for renewing and releasing its
// shards.
func (r catalogRef) entry() client.Entry {
	return client.Entry{ID: r.ID.String(), Manifest: r.Sealed}
}

// syncFile keeps what the node knows of the catalog's record.
const syncFile = "catalog-sync.json"

// syncState is the node's bookkeeping of the catalog's record.
type syncState struct {
	Seq    uint64 `json:"seq"`              // of the newest record seen or published
	Value  []byte `json:"value,omitempty"`  // that record's value (a catalogRef)
	Digest []byte `json:"digest,omitempty"` // SHA-256 of the document it points to
	// Mine are the documents this node wrote and has not released yet.
	Mine [][]byte `json:"mine,omitempty"` // catalogRefs
}

func loadSyncState(path string) (syncState, error) {
	var st syncState
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return syncState{}, fmt.Errorf("api: read %s: %w", path, err)
	}
	return st, nil
}

// CatalogSyncPeriod is how often the daemon looks for changes to its
// catalog made through other nodes, besides after each change of its own.
const CatalogSyncPeriod = 30 * time.Second

// keepCatalog publishes the catalog after every change and merges the
// cloud's every period, until ctx ends.
func (s *Server) keepCatalog(ctx context.Context, period time.Duration) {
	wait := time.Second // after start: peers first
	failures := 0
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.cat.changed:
			t.Stop()
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := s.syncCatalog(sctx)
		cancel()
		wait = period
		if err != nil && ctx.Err() == nil {
			failures++
			wait = min(period, time.Duration(failures)*5*time.Second)
			if failures == 1 || failures%10 == 0 {
				s.log.Warn("the catalog could not be synced with the cloud; it is kept on this node", "err", err, "failures", failures)
			}
		} else {
			failures = 0
		}
	}
}

// syncCatalog merges the cloud's catalog into the node's and publishes
// the merge if the cloud's lacks anything.
func (s *Server) syncCatalog(ctx context.Context) error {
	s.syncMu.Lock()
	err := s.syncOnce(ctx)
	seq := s.syncSt.Seq
	s.syncMu.Unlock()
	s.mu.Lock()
	s.catSync.Last = time.Now().UTC()
	s.catSync.Error = ""
	if err != nil {
		s.catSync.Error = err.Error()
	}
	s.catSync.Seq = seq
	s.mu.Unlock()
	return err
}

// syncOnce is syncCatalog's work, under syncMu.
func (s *Server) syncOnce(ctx context.Context) error {
	pub := s.cfg.Keys.PublicKey()
	for range 4 {
		seq, value, err := s.drive.LookupRoot(ctx, pub)
		switch {
		case errors.Is(err, fsdrive.ErrNoRoot):
			seq, value = 0, nil
		case err != nil:
			return fmt.Errorf("look up the catalog's record: %w", err)
		}
		if seq < s.syncSt.Seq {
			// The DHT answered with an older record than one seen: ask
			// again later rather than publish over it.
			return fmt.Errorf("the cloud answered with the catalog's record %d, older than %d", seq, s.syncSt.Seq)
		}
		if value != nil && !bytes.Equal(value, s.syncSt.Value) {
			if err := s.mergeFrom(ctx, seq, value); err != nil {
				return err
			}
		}
		local, err := s.cat.snapshot().marshal()
		if err != nil {
			return err
		}
		digest := sha256.Sum256(local)
		if value != nil && bytes.Equal(digest[:], s.syncSt.Digest) {
			return nil // the cloud has all of it
		}
		if value == nil && len(s.cat.snapshot().files) == 0 && len(s.cat.snapshot().removed) == 0 {
			return nil // nothing to publish yet
		}
		ref, err := s.writeDoc(ctx, local)
		if err != nil {
			return err
		}
		err = s.drive.PublishRoot(ctx, s.cfg.Keys, seq+1, ref.marshal())
		if errors.Is(err, rootrec.ErrStale) {
			s.releaseDocs(ctx, [][]byte{ref.marshal()})
			continue // published meanwhile, elsewhere: merge it first
		}
		if err != nil {
			s.releaseDocs(ctx, [][]byte{ref.marshal()})
			return fmt.Errorf("publish the catalog: %w", err)
		}
		s.syncSt.Seq, s.syncSt.Value, s.syncSt.Digest = seq+1, ref.marshal(), digest[:]
		old := s.syncSt.Mine
		s.syncSt.Mine = [][]byte{ref.marshal()}
		if err := s.saveSync(); err != nil {
			return err
		}
		s.releaseDocs(ctx, old)
		s.log.Debug("published the catalog", "seq", seq+1, "files", len(s.cat.snapshot().files))
		return nil
	}
	return errors.New("publish the catalog: other nodes kept publishing first; trying again later")
}

// mergeFrom reads the document value points to and merges it; the files
// it removed give back the shards no file left references.
func (s *Server) mergeFrom(ctx context.Context, seq uint64, value []byte) error {
	ref, err := parseCatalogRef(value)
	if err != nil {
		return err
	}
	b, err := s.readDoc(ctx, ref)
	if err != nil {
		return fmt.Errorf("read the catalog of record %d: %w", seq, err)
	}
	remote, err := parseCatalogDoc(b)
	if err != nil {
		return fmt.Errorf("the catalog of record %d: %w", seq, err)
	}
	gone, rest, err := s.cat.merge(remote)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(b)
	s.syncSt.Seq, s.syncSt.Value, s.syncSt.Digest = seq, bytes.Clone(value), digest[:]
	if err := s.saveSync(); err != nil {
		return err
	}
	if len(gone) > 0 {
		s.releaseGone(ctx, gone, rest)
		s.log.Info("files removed through another node", "files", len(gone))
	}
	return nil
}

// readDoc reads the catalog document ref points to.
func (s *Server) readDoc(ctx context.Context, ref catalogRef) ([]byte, error) {
	m, err := pipeline.OpenManifest(s.cfg.Keys, ref.ID, ref.Sealed)
	if err != nil {
		return nil, err
	}
	if m.Size > maxCatalogDoc {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", errCatalogDoc, m.Size, maxCatalogDoc)
	}
	rd, err := pipeline.NewReader(ctx, s.cfg, s.cloud, m)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(rd)
}

// writeDoc stores a catalog document in the cloud.
func (s *Server) writeDoc(ctx context.Context, b []byte) (catalogRef, error) {
	code, err := s.code()
	if err != nil {
		return catalogRef{}, err
	}
	cfg := s.cfg
	cfg.K, cfg.M = code.K, code.M
	m, err := pipeline.Write(ctx, cfg, s.cloud, bytes.NewReader(b))
	if err != nil {
		return catalogRef{}, fmt.Errorf("store the catalog: %w", err)
	}
	id, sealed, err := pipeline.SealManifest(s.cfg.Keys, m)
	if err != nil {
		return catalogRef{}, err
	}
	ref := catalogRef{ID: id, Sealed: sealed}
	if n := len(ref.marshal()); n > fsdrive.MaxRootValue {
		s.releaseEntries(ctx, []client.Entry{ref.entry()})
		return catalogRef{}, fmt.Errorf("the catalog (%d files, %d bytes) is too large to publish: its reference takes %d bytes, more than %d; it is kept on this node", len(s.cat.snapshot().files), len(b), n, fsdrive.MaxRootValue)
	}
	return ref, nil
}

// releaseDocs releases the shards of catalog documents this node wrote.
func (s *Server) releaseDocs(ctx context.Context, refs [][]byte) {
	var es []client.Entry
	for _, b := range refs {
		if r, err := parseCatalogRef(b); err == nil {
			es = append(es, r.entry())
		}
	}
	s.releaseEntries(ctx, es)
}

// releaseEntries releases the shards of es that no listed file references.
func (s *Server) releaseEntries(ctx context.Context, es []client.Entry) {
	if len(es) == 0 {
		return
	}
	s.releaseGone(ctx, es, s.cat.list())
}

// releaseGone releases the shards of gone that none of rest references.
func (s *Server) releaseGone(ctx context.Context, gone, rest []client.Entry) {
	refs, err := s.refsOf(gone)
	if err != nil {
		s.log.Warn("some shards are kept until their leases end", "err", err)
	}
	kept, err := s.refsOf(rest)
	if err != nil {
		s.log.Warn("some shards are kept until their leases end: the catalog could not be read", "err", err)
		return
	}
	still := map[node.ShardRef]bool{}
	for _, r := range kept {
		still[node.ShardRef{ID: r.ID}] = true
	}
	var release []node.ShardRef
	for _, r := range refs {
		if !still[node.ShardRef{ID: r.ID}] {
			release = append(release, r)
		}
	}
	if len(release) == 0 {
		return
	}
	if _, err := s.cloud.Release(ctx, release); err != nil {
		s.log.Warn("some shards are kept until their leases end", "err", err)
	}
}

// currentDoc is the entry of the catalog document the newest record seen
// points to, if any: its shards are renewed with the files'.
func (s *Server) currentDoc() []client.Entry {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	r, err := parseCatalogRef(s.syncSt.Value)
	if err != nil {
		return nil
	}
	return []client.Entry{r.entry()}
}

func (s *Server) saveSync() error {
	b, err := json.Marshal(s.syncSt)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.syncPath, b, 0o600)
}

// catalogSync reports the catalog's last sync, for status.
func (s *Server) catalogSync() client.CatalogSync {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catSync
}
