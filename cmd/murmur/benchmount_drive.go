package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/mount"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// inCloudTimeout bounds the wait for a commit to publish.
const inCloudTimeout = 30 * time.Minute

// benchDrive is the drive bench mount measures: a local cloud, the drive
// mounted over it as the writer, and what a second device needs to mount
// it too.
type benchDrive struct {
	base  string
	local *node.Local
	keys  *crypt.Keys
	raw   []byte // the key file
	d     *drive.Drive
	srv   *mount.Server
	mnt   string
	// workers is the drives' pipeline workers (0: the default).
	workers int
	// afterWrites adds up the time from the end of each part's writes
	// until they were in the cloud.
	afterWrites time.Duration
	// code is the erasure code the drive's last commit chose ("k=4 m=2").
	code atomic.Value
}

func startBenchDrive(ctx context.Context, cfg mountBenchConfig) (*benchDrive, error) {
	log := slog.New(slog.DiscardHandler)
	fmt.Fprintf(cfg.Progress, "starting a cloud of %d nodes in %s\n", cfg.Nodes, cfg.Base)
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: filepath.Join(cfg.Base, "cloud"), Nodes: cfg.Nodes, Logger: log})
	if err != nil {
		return nil, err
	}
	b := &benchDrive{base: cfg.Base, local: l, mnt: filepath.Join(cfg.Base, "mnt"), workers: cfg.Workers}
	if err := settleCode(ctx, l.Nodes[0], cfg.Settle, cfg.Progress); err != nil {
		b.close()
		return nil, err
	}
	if err := b.open(ctx); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// settleCode waits until node n chooses its erasure code from its own
// ratings of the members rather than the availability it assumes of
// members it has not yet vetted (k=2 m=3, 2.5 bytes stored per byte, for
// the six nodes of a new local cloud; k=4 m=2, 1.5, once vetted, within
// about a minute of gossip): a cloud that has been up longer than that is
// what the mount is measured on, and what bench cluster puts through.
func settleCode(ctx context.Context, n *node.Node, codeSettle time.Duration, progress io.Writer) error {
	deadline := time.Now().Add(codeSettle)
	said := false
	for {
		c, err := placement.ChooseCode(n.CodeParams(placement.DefaultTarget))
		if err == nil && c.Params.Availability != node.AssumedAvailability {
			if said {
				fmt.Fprintf(progress, "the cloud's code: k=%d m=%d\n", c.K, c.M)
			}
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(progress, "the cloud's members are not vetted after %v: measuring with k=%d m=%d\n", codeSettle, c.K, c.M)
			return nil
		}
		if !said {
			fmt.Fprintf(progress, "waiting for gossip to vet the cloud's members (the code until then: k=%d m=%d)\n", c.K, c.M)
			said = true
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// cloudOf returns node n's drive.Cloud.
func cloudOf(n *node.Node) (*daemon.DriveCloud, error) {
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		return nil, err
	}
	return daemon.NewDriveCloud(n, n.Cloud(placer)), nil
}

func (b *benchDrive) open(ctx context.Context) error {
	n := b.local.Nodes[0]
	cloud, err := cloudOf(n)
	if err != nil {
		return err
	}
	pass := []byte("bench")
	pub, raw, err := clientcmd.CreateDrive(ctx, cloud, pass, crypt.TestKDF())
	if err != nil {
		return err
	}
	if b.keys, err = clientcmd.UnlockKeyFile(raw, pub, pass); err != nil {
		return err
	}
	b.raw = raw
	b.d, err = drive.Open(ctx, drive.Config{Keys: b.keys, Cloud: cloud, KeyFile: raw, StateDir: filepath.Join(b.base, "state"),
		Logger: slog.New(slog.DiscardHandler), Code: b.recordCode(nodeCode(n, placement.DefaultTarget)), Pipeline: pipeline.Config{Workers: b.workers}})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(b.mnt, 0o755); err != nil {
		return err
	}
	// As `murmur mount` mounts a writer (clientcmd.ServeDrive).
	t := clientcmd.WriterTimeout
	b.srv, err = mount.Mount(b.mnt, b.d.Tree(), mount.Options{EntryTimeout: t, AttrTimeout: t, NegativeTimeout: t})
	return err
}

// recordCode wraps a drive's Config.Code to remember what it chose.
func (b *benchDrive) recordCode(code func(context.Context) (int, int, error)) func(context.Context) (int, int, error) {
	return func(ctx context.Context) (int, int, error) {
		k, m, err := code(ctx)
		if err == nil {
			b.code.Store(fmt.Sprintf("k=%d m=%d", k, m))
		}
		return k, m, err
	}
}

func (b *benchDrive) close() {
	if b.srv != nil {
		b.srv.Unmount()
	}
	if b.d != nil {
		b.d.Close(context.Background())
	}
	b.local.Close()
}

// side is the mount, as bench mount measures it.
func (b *benchDrive) side(s *benchSide) *side {
	return &side{name: "mount", dir: b.mnt, s: s, afterWrites: &b.afterWrites,
		code: func() string { c, _ := b.code.Load().(string); return c },
		inCloud: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, inCloudTimeout)
			defer cancel()
			return b.d.WaitCommitted(ctx)
		},
		cold: func() error {
			// Everything is in the cloud already: the mount's cache of
			// it, and the kernel's, go.
			b.d.DropCache()
			return errors.Join(dropCaches(b.mnt), dropCaches(filepath.Join(b.base, "cloud")), dropCaches(filepath.Join(b.base, "state")))
		}}
}

// secondDevice mounts the drive on a second device: a read-only mount
// with an empty state directory over another node of the cloud, as a
// laptop would mount it after the desktop wrote. It reads what part put
// in the cloud with every cache empty (the peers' stores' pages dropped
// from the kernel's cache too), then unmounts.
func (b *benchDrive) secondDevice(ctx context.Context, w *workload, s *benchSide, part string) error {
	fmt.Fprintf(w.progress, "second device: %s, cold\n", map[string]string{"seq": "the big file", "tree": "the tree"}[part])
	cloud, err := cloudOf(b.local.Nodes[len(b.local.Nodes)-1])
	if err != nil {
		return err
	}
	state := filepath.Join(b.base, "state2-"+part)
	mnt := filepath.Join(b.base, "mnt2")
	for _, dir := range []string{state, mnt} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	defer os.RemoveAll(state)
	if err := dropCaches(filepath.Join(b.base, "cloud")); err != nil {
		return err
	}
	start := time.Now()
	d, err := drive.Open(ctx, drive.Config{Keys: b.keys, Cloud: cloud, KeyFile: b.raw, StateDir: state, ReadOnly: true,
		Logger: slog.New(slog.DiscardHandler), Pipeline: pipeline.Config{Workers: b.workers}})
	if err != nil {
		return fmt.Errorf("second device: open: %w", err)
	}
	defer d.Close(context.Background())
	// A follower's mount: the short default timeouts (clientcmd.ServeDrive).
	srv, err := mount.Mount(mnt, d.Tree(), mount.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("second device: %w", err)
	}
	defer srv.Unmount()
	s.OpenSecs += time.Since(start).Seconds()
	switch part {
	case "seq":
		secs, err := timed(func() error { return readAll(filepath.Join(mnt, "big")) })
		if err != nil {
			return fmt.Errorf("second device: read: %w", err)
		}
		s.ColdReadMBps = float64(w.size) / 1e6 / secs
	case "tree":
		if s.ColdTreeSecs, err = timed(func() error { return readTree(filepath.Join(mnt, "src")) }); err != nil {
			return fmt.Errorf("second device: read the tree: %w", err)
		}
	}
	return nil
}
