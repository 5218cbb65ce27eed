package node

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/murmur-cloud/murmur/internal/wire"
)

// An invite carries what a machine needs to join a cloud: the cloud
// secret and a few members' addresses to bootstrap from, as one string
// to copy and paste:
//
//	"murmur1-" base64url( version(1) | secret(32) | uvarint n | n × (uvarint len | multiaddr) )
//
// It holds the secret: whoever has it can join the cloud.
const invitePrefix = "murmur1-"

// Invite limits.
const (
	maxInviteAddrs   = 32
	maxInviteAddrLen = 512
	inviteVersion    = 1
)

// ErrBadInvite reports an invite that does not parse.
var ErrBadInvite = errors.New("node: malformed invite")

// Invite is a parsed invite.
type Invite struct {
	Secret CloudSecret
	Addrs  []multiaddr.Multiaddr // each with a /p2p/ID component
}

// String encodes the invite.
func (in Invite) String() string {
	b := []byte{inviteVersion}
	b = append(b, in.Secret[:]...)
	b = binary.AppendUvarint(b, uint64(len(in.Addrs)))
	for _, a := range in.Addrs {
		raw := a.Bytes()
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	return invitePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseInvite decodes an invite string.
func ParseInvite(s string) (Invite, error) {
	var in Invite
	body, ok := strings.CutPrefix(strings.TrimSpace(s), invitePrefix)
	if !ok {
		return in, fmt.Errorf("%w: it does not start with %q", ErrBadInvite, invitePrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return in, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	r := wire.NewReader(raw, ErrBadInvite)
	if v := r.Byte(); r.Err() == nil && v != inviteVersion {
		return in, fmt.Errorf("%w: unknown version %d", ErrBadInvite, v)
	}
	copy(in.Secret[:], r.Bytes(32))
	n := r.Count(maxInviteAddrs, 2)
	for range n {
		ab := r.LenBytes(maxInviteAddrLen)
		if r.Err() != nil {
			break
		}
		a, err := multiaddr.NewMultiaddrBytes(ab)
		if err != nil {
			return in, fmt.Errorf("%w: address: %v", ErrBadInvite, err)
		}
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return in, fmt.Errorf("%w: address %s has no peer ID: %v", ErrBadInvite, a, err)
		}
		in.Addrs = append(in.Addrs, a)
	}
	r.Done()
	if r.Err() != nil {
		return in, r.Err()
	}
	if in.Secret == (CloudSecret{}) {
		return in, fmt.Errorf("%w: empty secret", ErrBadInvite)
	}
	return in, nil
}

// Peers returns the invite's addresses grouped by peer.
func (in Invite) Peers() ([]peer.AddrInfo, error) {
	return peer.AddrInfosFromP2pAddrs(in.Addrs...)
}
