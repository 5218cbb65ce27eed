package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/store"
)

// Drive returns the daemon's cloud as an drive.Cloud, for a drive mounted in
// another process than the daemon's. Root records are signed here: the
// drive's keys never reach the daemon. Shards the daemon returns are
// checked against their IDs again here (erasure.ErrCorrupt otherwise), and
// a root record against the drive asked for. Errors match the sentinels
// the daemon's DriveCloud returns (kinds, in errors.go), node's matching
// ErrBusy and ErrPeer. It is safe for concurrent use; requests share the
// client's connections.
func (c *Client) Drive() drive.Cloud { return &driveClient{c: c} }

type driveClient struct{ c *Client }

var _ drive.Cloud = (*driveClient)(nil)

// errReleased is what the transport reads from a request body after the
// call that sent it has returned.
var errReleased = errors.New("api: request body read after its call returned")

// body is a request body read from the caller's slices without copying
// them, which the caller may reuse once the call returns: release, called
// before returning, waits out a read in progress and fails later ones (a
// transport may still be sending when an early answer comes back).
type body struct {
	mu       sync.Mutex
	parts    [][]byte
	released bool
}

// reader returns a new reader of the body, for a first send or a retry.
func (b *body) reader() io.ReadCloser {
	rs := make([]io.Reader, len(b.parts))
	for i, p := range b.parts {
		rs[i] = bytes.NewReader(p)
	}
	return &bodyReader{b: b, r: io.MultiReader(rs...)}
}

func (b *body) release() {
	b.mu.Lock()
	b.released = true
	b.mu.Unlock()
}

type bodyReader struct {
	b *body
	r io.Reader
}

func (r *bodyReader) Read(p []byte) (int, error) {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if r.b.released {
		return 0, errReleased
	}
	return r.r.Read(p)
}

func (r *bodyReader) Close() error { return nil }

// send makes a request whose body is the concatenation of parts (none:
// no body) and returns the answer, which the caller must close. The
// parts are not read once send returns.
func (c *Client) send(ctx context.Context, method, path string, parts ...[]byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://murmur"+path, nil)
	if err != nil {
		return nil, err
	}
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	if n > 0 {
		b := &body{parts: parts}
		defer b.release()
		req.Body, req.ContentLength = b.reader(), n
		req.GetBody = func() (io.ReadCloser, error) { return b.reader(), nil }
	} else if method != http.MethodGet {
		req.Body = http.NoBody
	}
	return c.do(req)
}

// done reads what is left of an answer, so its connection is reused, and
// closes it.
func done(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// readAnswer reads an answer's bytes, which the daemon declares the
// length of, into one buffer, if they are at most limit.
func readAnswer(resp *http.Response, limit int64) ([]byte, error) {
	defer done(resp)
	n := resp.ContentLength
	if n < 0 || n > limit {
		return nil, fmt.Errorf("api: an answer of %d bytes, want 0 to %d", n, limit)
	}
	b := make([]byte, n)
	if m, err := io.ReadFull(resp.Body, b); err != nil {
		return nil, fmt.Errorf("%w: %d of %d bytes: %v", ErrShort, m, n, err)
	}
	return b, nil
}

func (d *driveClient) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	resp, err := d.c.send(ctx, http.MethodPut, "/v1/drive/shards/"+id.String(), data)
	if err != nil {
		return fmt.Errorf("put %s: %w", id.Short(), err)
	}
	done(resp)
	return nil
}

func (d *driveClient) PutStripe(ctx context.Context, desc *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	head, err := StripeHead(desc)
	if err != nil {
		return nil, err
	}
	if len(shards) != len(desc.Shards) {
		return nil, fmt.Errorf("%w: %d shards for a stripe of %d", ErrBadStripe, len(shards), len(desc.Shards))
	}
	parts := [][]byte{head}
	for i, b := range shards {
		if len(b) != desc.Shards[i].Size {
			return nil, fmt.Errorf("%w: shard %d has %d bytes, the descriptor says %d", ErrBadStripe, i, len(b), desc.Shards[i].Size)
		}
		if len(b) > 0 {
			parts = append(parts, b)
		}
	}
	resp, err := d.c.send(ctx, http.MethodPost, "/v1/drive/stripes", parts...)
	if err != nil {
		return nil, fmt.Errorf("put stripe: %w", err)
	}
	defer done(resp)
	var ans StripePut
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return nil, fmt.Errorf("api: put stripe: the answer: %w", err)
	}
	if len(ans.Holders) != len(desc.Shards) {
		return nil, fmt.Errorf("api: put stripe: %d holders for %d shards", len(ans.Holders), len(desc.Shards))
	}
	holders := make([]store.Holder, len(ans.Holders))
	for i, h := range ans.Holders {
		holders[i] = store.Holder(h)
	}
	return holders, nil
}

func (d *driveClient) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return d.GetHinted(ctx, id, nil)
}

func (d *driveClient) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	var q strings.Builder
	for _, h := range hints {
		if h == "" || len(h) > store.MaxHolderLen {
			continue
		}
		if q.Len() == 0 {
			q.WriteByte('?')
		} else {
			q.WriteByte('&')
		}
		q.WriteString("hint=" + base64.RawURLEncoding.EncodeToString([]byte(h)))
	}
	resp, err := d.c.send(ctx, http.MethodGet, "/v1/drive/shards/"+id.String()+q.String())
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id.Short(), err)
	}
	b, err := readAnswer(resp, erasure.MaxShardSize)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id.Short(), err)
	}
	if !id.Verify(b) {
		return nil, fmt.Errorf("get %s: the daemon answered with other bytes: %w", id.Short(), erasure.ErrCorrupt)
	}
	return b, nil
}

func (d *driveClient) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	r, err := rootrec.New(keys, seq, value)
	if err != nil {
		return err
	}
	b, err := r.MarshalBinary()
	if err != nil {
		return err
	}
	resp, err := d.c.send(ctx, http.MethodPost, "/v1/drive/roots", b)
	if err != nil {
		return fmt.Errorf("publish root of seq %d: %w", seq, err)
	}
	done(resp)
	return nil
}

func (d *driveClient) LookupRoot(ctx context.Context, drive ed25519.PublicKey) (uint64, []byte, error) {
	resp, err := d.c.send(ctx, http.MethodGet, "/v1/drive/roots/"+hex.EncodeToString(drive))
	if err != nil {
		return 0, nil, fmt.Errorf("look up drive root: %w", err)
	}
	b, err := readAnswer(resp, rootrec.MaxLen)
	if err != nil {
		return 0, nil, fmt.Errorf("look up drive root: %w", err)
	}
	r, err := rootrec.Parse(b)
	if err != nil {
		return 0, nil, fmt.Errorf("look up drive root: %w", err)
	}
	if !r.Drive.Equal(drive) {
		return 0, nil, fmt.Errorf("look up drive root: %w: the daemon answered with another drive's record", rootrec.ErrBad)
	}
	return r.Seq, r.Value, nil
}

// Renew sends the shards in batches of at most MaxRenewBatch; a batch
// that fails does not stop the others.
func (d *driveClient) Renew(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	return d.leases(ctx, "/v1/drive/renew", "renew", ids, hints)
}

// Release gives up the daemon's node's leases on the shards named, in
// batches as Renew (backup's Releaser): holders delete what no lease is
// left on.
func (d *driveClient) Release(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	return d.leases(ctx, "/v1/drive/release", "release", ids, hints)
}

func (d *driveClient) leases(ctx context.Context, path, verb string, ids []erasure.ShardID, hints []store.Holder) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs []error
	for start := 0; start < len(ids); start += MaxRenewBatch {
		end := min(start+MaxRenewBatch, len(ids))
		refs := make([]RenewRef, 0, end-start)
		for i := start; i < end; i++ {
			r := RenewRef{ID: ids[i]}
			if i < len(hints) {
				r.Holder = []byte(hints[i])
			}
			refs = append(refs, r)
		}
		b, err := json.Marshal(refs)
		if err != nil {
			return err
		}
		resp, err := d.c.send(ctx, http.MethodPost, path, b)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("%s shards %d to %d: %w", verb, start, end, err))
			continue
		}
		done(resp)
	}
	return errors.Join(errs...)
}

func (d *driveClient) Space(ctx context.Context) (drive.CloudSpace, error) {
	var s Space
	if err := d.c.getJSON(ctx, "/v1/drive/space", &s); err != nil {
		return drive.CloudSpace{}, err
	}
	return drive.CloudSpace{Total: s.Total, Free: min(s.Free, s.Total), Stored: s.Stored, Estimated: s.Estimated}, nil
}
