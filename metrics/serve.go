package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Resolve returns the address to listen on for addr: one given as just
// ":PORT" gets 127.0.0.1 as its host; any other is taken as it is.
// public reports whether the host is not a loopback one (an IP that is
// not 127/8 or ::1, or a name other than localhost), which only an
// explicit host gives.
func Resolve(addr string) (resolved string, public bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("metrics: address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil {
		public = !ip.IsLoopback()
	} else {
		public = host != "localhost"
	}
	return net.JoinHostPort(host, port), public, nil
}

// Listen listens on addr as Resolve resolves it.
func Listen(addr string) (ln net.Listener, public bool, err error) {
	resolved, public, err := Resolve(addr)
	if err != nil {
		return nil, false, err
	}
	ln, err = net.Listen("tcp", resolved)
	if err != nil {
		return nil, false, fmt.Errorf("metrics: %w", err)
	}
	return ln, public, nil
}

// Serve serves h on /metrics (and nothing else) on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
