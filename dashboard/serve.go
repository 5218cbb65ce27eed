package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// NewToken returns a fresh random token: 32 bytes, in hex.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go ≥ 1.24 crashes instead)
	return hex.EncodeToString(b[:])
}

// LoadToken returns the token kept in the file at path, making one (mode
// 0600) if there is none, so that a bookmarked URL outlives a restart.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 32 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("dashboard: %w", err)
			}
			return t, nil
		}
	} else if !errors.Is(err, iofs.ErrNotExist) {
		return "", fmt.Errorf("dashboard: read the token: %w", err)
	}
	t := NewToken()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dashboard: save the token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("dashboard: save the token: %w", err)
	}
	return t, nil
}

// Listen listens on addr, which must be a loopback address
// ("127.0.0.1:0" for any free port).
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("dashboard: address %q is not a loopback address: the dashboard listens on this machine only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return ln, nil
}

// URL is the address of the dashboard listening on ln, with its token.
func URL(ln net.Listener, token string) string {
	return "http://" + ln.Addr().String() + "/?token=" + url.QueryEscape(token)
}

// Serve serves d on ln until ctx ends, sampling its traffic meanwhile.
func Serve(ctx context.Context, ln net.Listener, d *Dashboard) error {
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	go d.Run(ctx)
	go func() {
		<-ctx.Done()
		srv.Close() // the event streams never end by themselves
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
