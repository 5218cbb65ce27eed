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
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %s", ErrNotRunning, c.socket)
		}
		return nil, err
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
	want, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if size != nil {
		size(want)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && n != want {
		err = fmt.Errorf("%w: %d of %d bytes (the node's log says why)", ErrShort, n, want)
	}
	return n, err
}
