package drive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/fs/format"
)

// renewLease publishes the current root again with this mount as the
// writer, for another LeaseTerm; it fails with ErrLeaseLost if the newest
// root is not one this mount published.
func (d *Drive) renewLease(ctx context.Context) error {
	return d.publish(ctx, nil, 0)
}

// publish makes ref (nil: the current super) the drive's root, with the
// writer lease renewed, after checking that the cloud's newest root is
// still one of this mount's: a mount that lost its lease learns it here,
// and publishes nothing.
//
// A newer root of this mount's own than it knows (a publish whose answer
// was lost) is published over: its commit's changes are still this
// mount's to commit, since it never learned that commit went out.
func (d *Drive) publish(ctx context.Context, ref []byte, gen uint64) error {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	cfg := d.cfg
	seq, value, err := cfg.Cloud.LookupRoot(ctx, cfg.Keys.PublicKey())
	if err != nil && !errors.Is(err, ErrNoRoot) {
		return fmt.Errorf("fs: look up the drive's root: %w", err)
	}
	d.mu.Lock()
	known, curRef, curGen := d.seq, d.ref, d.gen
	d.mu.Unlock()
	var old *format.Root
	if err == nil {
		old, _ = format.ParseRoot(value)
		// Another mount takes the lease only by publishing past the
		// newest root this mount knows; an older root than that is a
		// stale answer (peers that missed the newest), not a loss.
		if seq > known && (old == nil || old.Writer != d.writer) {
			return d.lostLease(seq)
		}
		known = max(seq, known)
	}
	if ref == nil {
		ref, gen = curRef, curGen
	}
	now := cfg.Clock()
	until := now.Add(cfg.LeaseTerm)
	if d.noLease {
		until = now
	}
	v := &format.Root{Super: ref, Writer: d.writer, Until: until, Key: cfg.KeyFile}
	if len(v.Key) == 0 && old != nil {
		v.Key = old.Key
	}
	if err := cfg.Cloud.PublishRoot(ctx, cfg.Keys, known+1, v.Marshal()); err != nil {
		return fmt.Errorf("fs: publish the drive's root: %w", err)
	}
	d.mu.Lock()
	d.seq, d.ref, d.gen, d.until, d.writing = known+1, ref, gen, until, true
	d.unresolved = nil // the root is this one now
	d.mu.Unlock()
	return nil
}

func (d *Drive) lostLease(seq uint64) error {
	d.t.SetReadOnly(true)
	d.mu.Lock()
	d.writing, d.frozen = false, true
	d.why = fmt.Sprintf("the writer lease was lost: root %d was published by another mount; this mount's uncommitted changes stay in %s", seq, d.cfg.StateDir)
	d.mu.Unlock()
	d.log.Error("fs: drive is read-only now", "why", d.why)
	return fmt.Errorf("%w (root %d)", ErrLeaseLost, seq)
}

// leaseLoop renews the writer lease every third of its term, on its own:
// a commit uploading for longer than the term must not let it lapse.
func (d *Drive) leaseLoop() {
	tick := time.NewTicker(d.cfg.LeaseTerm / 3)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
			d.mu.Lock()
			writing, until := d.writing, d.until
			d.mu.Unlock()
			if !writing || until.Sub(d.cfg.Clock()) >= 2*d.cfg.LeaseTerm/3 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.LeaseTerm/3)
			if err := d.renewLease(ctx); err != nil {
				d.log.Error("fs: renew the writer lease", "err", err)
			}
			cancel()
		}
	}
}
