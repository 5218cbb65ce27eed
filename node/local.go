package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// LocalConfig configures a cloud of several nodes in one process, on
// loopback: what `murmur up` runs and `murmur bench cluster` measures.
type LocalConfig struct {
	Dir      string // required: node i lives in Dir/node-i; the secret in Dir/cloud.secret
	Nodes    int    // default 6
	Capacity int64  // per node; 0: no quota
	// GossipPeriod is the nodes' gossip cycle; default LocalGossipPeriod:
	// loopback traffic is cheap, and a local cloud should learn its
	// members' availability (and so its code) within a minute.
	GossipPeriod time.Duration
	// DiskRegistry is the nodes' Config.DiskRegistry: the six nodes of
	// `murmur up` share one disk, and count it once through it.
	DiskRegistry string
	// ComputeSlots and ComputeMemory are every node's Config.ComputeSlots
	// and ComputeMemory (0: no compute).
	ComputeSlots  int
	ComputeMemory int64
	Logger        *slog.Logger
	// Configure, if set, adjusts node i's Config before it starts (its
	// metrics hooks, for one).
	Configure func(i int, c *Config)
}

// LocalGossipPeriod is a local cloud's default gossip cycle, and
// localGossipEpoch its aggregation epoch in cycles: a size estimate within
// 20 to 40 s of starting.
const (
	LocalGossipPeriod = 2 * time.Second
	localGossipEpoch  = 10
)

// Local is a running local cloud.
type Local struct {
	Secret CloudSecret
	Nodes  []*Node
}

// secretFile holds a local cloud's secret, so a rerun resumes the same cloud.
const secretFile = "cloud.secret"

// StartLocal starts (or resumes, if cfg.Dir holds one) a local cloud and
// connects every node to every other.
func StartLocal(ctx context.Context, cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, errors.New("node: LocalConfig.Dir is required")
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 6
	}
	if cfg.GossipPeriod <= 0 {
		cfg.GossipPeriod = LocalGossipPeriod
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	secret, err := loadOrCreateSecret(filepath.Join(cfg.Dir, secretFile))
	if err != nil {
		return nil, err
	}
	l := &Local{Secret: secret}
	for i := range cfg.Nodes {
		nc := Config{
			Dir: filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i)), Secret: secret,
			Capacity: cfg.Capacity, Logger: cfg.Logger, GossipPeriod: cfg.GossipPeriod, GossipEpoch: localGossipEpoch,
			DiskRegistry: cfg.DiskRegistry, ComputeSlots: cfg.ComputeSlots, ComputeMemory: cfg.ComputeMemory,
		}
		if cfg.Configure != nil {
			cfg.Configure(i, &nc)
		}
		n, err := New(nc)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.Nodes = append(l.Nodes, n)
	}
	for i, a := range l.Nodes {
		for _, b := range l.Nodes[i+1:] {
			if err := a.Connect(ctx, b.AddrInfo()); err != nil {
				l.Close()
				return nil, err
			}
		}
	}
	return l, nil
}

// Close stops every node.
func (l *Local) Close() error {
	var errs []error
	for _, n := range l.Nodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}

func loadOrCreateSecret(path string) (CloudSecret, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s := NewCloudSecret()
		if err := atomicfile.WriteFile(path, []byte(s.String()+"\n"), 0o600); err != nil {
			return s, fmt.Errorf("node: save cloud secret: %w", err)
		}
		return s, nil
	}
	if err != nil {
		return CloudSecret{}, fmt.Errorf("node: read cloud secret: %w", err)
	}
	s, err := ParseCloudSecret(string(trimSpace(b)))
	if err != nil {
		return s, fmt.Errorf("node: %s: %w", path, err)
	}
	return s, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
