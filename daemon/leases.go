package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
)

// The daemon owns the shards of the files in its catalog: it renews their
// leases a few times per lease term, and when a file is removed it
// releases the shards no other file references. What a crash between the
// two steps of a removal leaves behind expires with its leases.

// refsOf returns the stored shards the entries' manifests reference, each
// once per hinted holder. A manifest that cannot be opened is reported in
// the error and skipped: the shards of the others are still returned.
func (s *Server) refsOf(entries []client.Entry) ([]node.ShardRef, error) {
	seen := map[node.ShardRef]bool{}
	var refs []node.ShardRef
	var errs []error
	for _, e := range entries {
		m, err := s.manifest(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("file %s: %w", e.ID, err))
			continue
		}
		for i, d := range m.Stripes {
			for j, sh := range d.Shards {
				if !d.Stored(j) {
					continue
				}
				r := node.ShardRef{ID: sh.ID}
				if m.Holders != nil {
					r.Holder = m.Holders[i][j]
				}
				if !seen[r] {
					seen[r] = true
					refs = append(refs, r)
				}
			}
		}
	}
	return refs, errors.Join(errs...)
}

func (s *Server) manifest(e client.Entry) (*pipeline.Manifest, error) {
	id, err := pipeline.ParseManifestID(e.ID)
	if err != nil {
		return nil, err
	}
	return pipeline.OpenManifest(s.cfg.Keys, id, e.Manifest)
}

// renew renews the leases of every shard the catalog references.
func (s *Server) renew(ctx context.Context) client.LeaseStatus {
	st := client.LeaseStatus{Last: time.Now().UTC()}
	// A file whose manifest cannot be opened does not stop the others'
	// renewal; the error says which.
	refs, err := s.refsOf(append(s.cat.list(), s.currentDoc()...))
	rep, rerr := s.cloud.Renew(ctx, refs)
	st.Shards, st.Renewed, st.Missing, st.Failed = len(refs), rep.Done, rep.Missing, rep.Failed
	err = errors.Join(err, rerr)
	if err != nil {
		st.Error = err.Error()
		s.log.Warn("renewing leases failed", "err", err)
	} else if st.Missing+st.Failed > 0 {
		s.log.Warn("some shards' leases were not renewed", "missing", st.Missing, "failed", st.Failed)
	}
	s.mu.Lock()
	s.leases = st
	s.renewed.Runs++
	s.renewed.Renewed += int64(st.Renewed)
	s.renewed.Missing += int64(st.Missing)
	s.renewed.Failed += int64(st.Failed)
	s.renewed.Last = st.Last
	s.mu.Unlock()
	return st
}

// keepLeases renews the catalog's leases shortly after the daemon starts
// (it may have been down for a while) and then every quarter lease term,
// until ctx ends.
func (s *Server) keepLeases(ctx context.Context) {
	wait := s.firstRenew
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		s.renew(ctx)
		wait = s.n.LeaseTerm() / 4
	}
}

// remove takes a file out of the catalog and releases the shards that no
// file left references.
func (s *Server) remove(ctx context.Context, id string) (node.LeaseReport, error) {
	e, rest, err := s.cat.remove(id)
	if err != nil {
		return node.LeaseReport{}, err
	}
	gone, err := s.refsOf([]client.Entry{e})
	if err != nil {
		return node.LeaseReport{}, err
	}
	kept, err := s.refsOf(rest)
	if err != nil {
		return node.LeaseReport{}, err
	}
	still := map[erasure.ShardID]bool{}
	for _, r := range kept {
		still[r.ID] = true
	}
	var release []node.ShardRef
	for _, r := range gone {
		if !still[r.ID] {
			release = append(release, r)
		}
	}
	rep, err := s.cloud.Release(ctx, release)
	s.log.Info("removed a file", "id", id, "released", rep.Done, "failed", rep.Failed)
	return rep, err
}
