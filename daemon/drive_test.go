package daemon_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
)

// driveNodes is the size of the clouds the drive's tests run on: enough
// for a stripe of four stored shards on distinct members.
const driveNodes = 4

// startCloud starts a local cloud of n nodes and waits until each node's
// DHT answers a lookup, so root records can be published at once.
func startCloud(t testing.TB, n int) *node.Local {
	t.Helper()
	return startCloudWith(t, node.LocalConfig{Nodes: n})
}

// startCloudWith is startCloud of a cloud configured by cfg, in a
// temporary folder unless cfg.Dir names one.
func startCloudWith(t testing.TB, cfg node.LocalConfig) *node.Local {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	l, err := node.StartLocal(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	nobody := cloudtest.Keys().PublicKey()
	deadline := time.Now().Add(10 * time.Second)
	for _, nd := range l.Nodes {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := nd.LookupRoot(ctx, nobody)
			cancel()
			if errors.Is(err, node.ErrNoRoot) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the DHT does not answer: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return l
}

// TestDriveCloud runs the drive.Cloud suite on a node's cloud in process.
func TestDriveCloud(t *testing.T) {
	l := startCloud(t, driveNodes)
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.NewDriveCloud(l.Nodes[0], l.Nodes[0].Cloud(placer))
	cloudtest.Run(t, func(*testing.T) drive.Cloud { return d })
}

// serveDrive starts a local cloud of driveNodes nodes and the first
// node's API on a unix socket, and returns the server and a client.
func serveDrive(t testing.TB) (*daemon.Server, *client.Client) {
	t.Helper()
	return serveNode(t, startCloud(t, driveNodes))
}

// serveNode serves the API of l's first node on a unix socket, and
// returns the server and a client.
func serveNode(t testing.TB, l *node.Local) (*daemon.Server, *client.Client) {
	t.Helper()
	dir := t.TempDir()
	srv, err := daemon.NewServer(l.Nodes[0], dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "murmur.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, sock) }()
	t.Cleanup(func() { cancel(); <-done })
	c := client.New(sock)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := c.Status(context.Background()); err == nil {
			return srv, c
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDriveAPI runs the drive.Cloud suite on the daemon's API: a client in
// this process, a real server on a unix socket, a real cloud behind it.
func TestDriveAPI(t *testing.T) {
	_, c := serveDrive(t)
	d := c.Drive()
	cloudtest.Run(t, func(*testing.T) drive.Cloud { return d })
}
