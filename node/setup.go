package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// Setup is what a node keeps in its directory besides its identity and
// shards: config.json (where to listen, the quota, whom to bootstrap
// from) and cloud.secret.
type Setup struct {
	Listen    []string `json:"listen"`
	Capacity  int64    `json:"capacity,omitempty"`
	Bootstrap []string `json:"bootstrap,omitempty"` // members' multiaddrs with /p2p/ID
}

const setupFile = "config.json"

// ErrNotInitialised reports a directory without a node.
var ErrNotInitialised = errors.New("node: no node here (run 'murmur init')")

// ErrNoCloud reports a node that belongs to no cloud yet.
var ErrNoCloud = errors.New("node: this node is in no cloud (run 'murmur cloud create', or 'murmur node --join INVITE')")

// Init makes a node in dir: an identity and a config. It refuses a
// directory that already holds one.
func Init(dir string, s Setup) (peer.ID, error) {
	if _, err := os.Stat(filepath.Join(dir, setupFile)); err == nil {
		return "", fmt.Errorf("node: %s already holds a node", dir)
	}
	if len(s.Listen) == 0 {
		s.Listen = []string{"/ip4/0.0.0.0/tcp/4001"}
	}
	key, err := LoadIdentity(dir)
	if err != nil {
		return "", err
	}
	if err := SaveSetup(dir, s); err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(key)
}

// LoadSetup reads dir's config.
func LoadSetup(dir string) (Setup, error) {
	var s Setup
	b, err := os.ReadFile(filepath.Join(dir, setupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("%w in %s", ErrNotInitialised, dir)
	}
	if err != nil {
		return s, fmt.Errorf("node: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("node: %s: %w", filepath.Join(dir, setupFile), err)
	}
	return s, nil
}

// SaveSetup writes dir's config atomically.
func SaveSetup(dir string, s Setup) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, setupFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// CreateCloud makes a new cloud secret for the node in dir; it refuses if
// the node already belongs to a cloud.
func CreateCloud(dir string) (CloudSecret, error) {
	path := filepath.Join(dir, secretFile)
	if _, err := os.Stat(path); err == nil {
		return CloudSecret{}, fmt.Errorf("node: %s already belongs to a cloud (%s)", dir, path)
	}
	return loadOrCreateSecret(path)
}

// LoadSecret returns the secret of the cloud the node in dir belongs to.
func LoadSecret(dir string) (CloudSecret, error) {
	path := filepath.Join(dir, secretFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return CloudSecret{}, ErrNoCloud
	}
	return loadOrCreateSecret(path)
}

// Join makes the node in dir a member of the invite's cloud and adds the
// invite's addresses to its bootstrap list.
func Join(dir string, in Invite) error {
	s, err := LoadSetup(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, secretFile)
	if old, err := LoadSecret(dir); err == nil && old != in.Secret {
		return fmt.Errorf("node: %s already belongs to another cloud", dir)
	} else if errors.Is(err, ErrNoCloud) {
		if err := atomicfile.WriteFile(path, []byte(in.Secret.String()+"\n"), 0o600); err != nil {
			return fmt.Errorf("node: save cloud secret: %w", err)
		}
	}
	for _, a := range in.Addrs {
		if !contains(s.Bootstrap, a.String()) {
			s.Bootstrap = append(s.Bootstrap, a.String())
		}
	}
	return SaveSetup(dir, s)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// InviteFor returns an invite to the node's cloud naming the node's
// addresses: its listen addresses with wildcards replaced by this
// machine's interface addresses.
func InviteFor(dir string) (Invite, error) {
	secret, err := LoadSecret(dir)
	if err != nil {
		return Invite{}, err
	}
	s, err := LoadSetup(dir)
	if err != nil {
		return Invite{}, err
	}
	key, err := LoadIdentity(dir)
	if err != nil {
		return Invite{}, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Invite{}, err
	}
	p2p, _ := multiaddr.NewMultiaddr("/p2p/" + id.String())
	in := Invite{Secret: secret}
	for _, l := range s.Listen {
		a, err := multiaddr.NewMultiaddr(l)
		if err != nil {
			return in, fmt.Errorf("node: listen address %q: %w", l, err)
		}
		addrs := []multiaddr.Multiaddr{a}
		if manet.IsIPUnspecified(a) {
			if addrs, err = manet.ResolveUnspecifiedAddress(a, interfaceAddrs()); err != nil {
				return in, err
			}
		}
		for _, x := range addrs {
			in.Addrs = append(in.Addrs, x.Encapsulate(p2p))
		}
	}
	return in, nil
}

func interfaceAddrs() []multiaddr.Multiaddr {
	var out []multiaddr.Multiaddr
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, ia := range ifaddrs {
		if ipn, ok := ia.(*net.IPNet); ok {
			if a, err := manet.FromIP(ipn.IP); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// Open starts the node kept in dir, as configured there.
func Open(dir string, cfg Config) (*Node, error) {
	s, err := LoadSetup(dir)
	if err != nil {
		return nil, err
	}
	secret, err := LoadSecret(dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir, cfg.Secret = dir, secret
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = s.Listen
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = s.Capacity
	}
	return New(cfg)
}

// Bootstrap connects to the given members (multiaddrs with /p2p/ID) in
// the background, retrying each with backoff until it is connected or ctx
// ends.
func (n *Node) Bootstrap(ctx context.Context, addrs []string) {
	var infos []peer.AddrInfo
	for _, s := range addrs {
		a, err := multiaddr.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			n.log.Warn("bad bootstrap address", "addr", s, "err", err)
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil || ai.ID == n.ID() {
			continue
		}
		infos = append(infos, *ai)
	}
	for _, ai := range infos {
		go func() {
			for delay := time.Second; ctx.Err() == nil; delay = min(2*delay, time.Minute) {
				if n.host.Network().Connectedness(ai.ID) == network.Connected {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := n.Connect(cctx, ai)
				cancel()
				if err == nil {
					n.log.Info("connected to bootstrap member", "peer", ai.ID.ShortString())
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(delay):
				}
			}
		}()
	}
}
