package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
)

// Client talks to a node's API.
type Client struct {
	socket string
	http   *http.Client
}

// New returns a client of the node whose socket is at path.
func New(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		// A mount's drive calls run in parallel: keep their connections.
		MaxIdleConnsPerHost: 32,
	}
	return &Client{socket: path, http: &http.Client{Transport: tr}}
}

// Socket returns the path of the unix socket the client talks to.
func (c *Client) Socket() string { return c.socket }

func (c *Client) do(req *http.Request) (*http.Response, error) {
	var body *readErrBody
	if req.Body != nil {
		body = &readErrBody{r: req.Body}
		req.Body = body
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportErr(err, body)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e ErrorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e); err != nil {
		return nil, fmt.Errorf("api: %s", resp.Status)
	}
	return nil, remoteErr(e)
}

// transportErr is the error a request that got no answer reports: the
// error of reading its body, which is the caller's (a local file that
// cannot be read), else the node cannot be reached. Never the URL of the
// request, which is internal.
func (c *Client) transportErr(err error, body *readErrBody) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if body != nil && body.err != nil {
		return body.err
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: cannot reach the node at %s", ErrNotRunning, c.socket)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%w at %s (is `murmur node` running?): %v", ErrUnreachable, c.socket, err)
}

// readErrBody remembers the first error of reading a request's body other
// than io.EOF.
type readErrBody struct {
	r   io.ReadCloser
	err error
}

func (b *readErrBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *readErrBody) Close() error { return b.r.Close() }

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://murmur"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.getJSON(ctx, "/v1/status", &s)
}

// Peers returns the node's connected peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var p []Peer
	return p, c.getJSON(ctx, "/v1/peers", &p)
}

// List returns the files stored through the node.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	var l []Entry
	return l, c.getJSON(ctx, "/v1/files", &l)
}

// Put stores the bytes of r as a file named name.
func (c *Client) Put(ctx context.Context, name string, r io.Reader) (*Entry, error) {
	return call[Entry](ctx, c, http.MethodPost, "/v1/files?name="+url.QueryEscape(name), r)
}

// Remove takes the file id out of the catalog and releases its shards.
func (c *Client) Remove(ctx context.Context, id string) (*Removed, error) {
	return call[Removed](ctx, c, http.MethodDelete, "/v1/files/"+url.PathEscape(id), nil)
}

// RenewLeases renews the leases of every file's shards now and reports
// what happened.
func (c *Client) RenewLeases(ctx context.Context) (*LeaseStatus, error) {
	return call[LeaseStatus](ctx, c, http.MethodPost, "/v1/leases/renew", nil)
}

// call sends a request with an optional body and decodes the JSON answer.
func call[T any](ctx context.Context, c *Client, method, path string, body io.Reader) (*T, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://murmur"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v T
	return &v, json.NewDecoder(resp.Body).Decode(&v)
}

// Get writes the file id to w and returns its length; size, if not nil,
// is told the length before the bytes come.
func (c *Client) Get(ctx context.Context, id string, w io.Writer, size func(int64)) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://murmur/v1/files/"+url.PathEscape(id), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sz := resp.Header.Get(SizeHeader)
	if sz == "" {
		sz = resp.Header.Get("Content-Length")
	}
	want, _ := strconv.ParseInt(sz, 10, 64)
	if size != nil {
		size(want)
	}
	n, err := io.Copy(w, resp.Body)
	// A read that fails once the bytes flow sends its error in the
	// trailer: the status line said 200 already.
	if t := resp.Trailer.Get(ErrorTrailer); t != "" {
		var e ErrorBody
		if json.Unmarshal([]byte(t), &e) == nil {
			return n, fmt.Errorf("read failed after %d of %d bytes: %w", n, want, remoteErr(e))
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return n, c.transportErr(err, nil)
	}
	if err == nil && n != want {
		err = fmt.Errorf("%w: %d of %d bytes (the node's log says why)", ErrShort, n, want)
	}
	return n, err
}

// SizeHeader carries the length of a file GET sends, chunked so that a
// read failing midway can say why in ErrorTrailer (an ErrorBody as JSON).
const (
	SizeHeader   = "Murmur-Size"
	ErrorTrailer = "Murmur-Error"
)
