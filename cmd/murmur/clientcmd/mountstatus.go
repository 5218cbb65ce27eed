package clientcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A running mount answers `murmur status` itself, on a unix socket in the
// node's mounts folder: GET /status gives its mountStatus as JSON,
// computed when asked.

// statusTimeout bounds how long murmur status waits for a mount to
// answer, and a mount for a client to send its request.
const statusTimeout = 2 * time.Second

// StatusSocket is where the mount with this id (a drive's, or "up")
// answers. A second mount of one drive on the node answers at ID.2.sock,
// and so on.
func StatusSocket(dir, id string) string {
	return filepath.Join(MountsDir(dir), id+".sock")
}

// serveStatus answers GET /status at the socket path with status(), until
// stop, which removes the socket. A socket left by a mount that died
// (nothing accepts on it) is replaced; one a live mount answers on is
// left to it, and the next free ID.N.sock taken.
func serveStatus(path string, status func() mountStatus) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(path, ".sock")
	for n := 1; n <= 100; n++ {
		p := path
		if n > 1 {
			p = fmt.Sprintf("%s.%d.sock", base, n)
		}
		ln, err := listenUnix(p)
		if errors.Is(err, errSocketInUse) {
			continue
		}
		if err != nil {
			return nil, err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(status())
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: statusTimeout}
		served := make(chan struct{})
		go func() { srv.Serve(ln); close(served) }()
		// Closing the listener removes the socket.
		return func() { srv.Close(); <-served }, nil
	}
	return nil, fmt.Errorf("status socket: every name of %s.N.sock is taken", base)
}

// errSocketInUse: a live process accepts on the socket.
var errSocketInUse = errors.New("in use")

// listenUnix listens on a unix socket at path, mode 0600, replacing a
// stale one that nothing accepts on.
func listenUnix(path string) (net.Listener, error) {
	c, err := net.DialTimeout("unix", path, statusTimeout)
	switch {
	case err == nil:
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, errSocketInUse)
	case errors.Is(err, syscall.ECONNREFUSED):
		os.Remove(path) // its process died without removing it
	case !errors.Is(err, os.ErrNotExist):
		// A socket that does not accept in time, or something else
		// there: leave it alone.
		return nil, fmt.Errorf("%s: %w (%v)", path, errSocketInUse, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return ln, nil
}

// askStatus asks the mount answering at the socket path for its status.
func askStatus(ctx context.Context, path string) (mountStatus, error) {
	c := &http.Client{
		Timeout: statusTimeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
	defer c.CloseIdleConnections()
	var s mountStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://mount/status", nil)
	if err != nil {
		return s, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%s: %s", path, resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// mountStatuses asks each of the node's running mounts for its status, all
// at once; a socket nothing answers on, left by a mount that died, is
// skipped.
func mountStatuses(dir string) []mountStatus {
	socks, _ := filepath.Glob(filepath.Join(MountsDir(dir), "*.sock"))
	got := make([]*mountStatus, len(socks))
	var wg sync.WaitGroup
	for i, sock := range socks {
		wg.Go(func() {
			if s, err := askStatus(context.Background(), sock); err == nil {
				got[i] = &s
			}
		})
	}
	wg.Wait()
	var out []mountStatus
	for _, s := range got {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}
