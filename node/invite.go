package node

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/murmur-cloud/murmur/internal/wire"
)

// An invite carries what a machine needs to join a cloud: the cloud
// secret and a few members' addresses to bootstrap from, as one string
// to copy and paste:
//
//	"murmur2-" base64url( version(2) | secret(32) | uvarint n | n × (uvarint len | multiaddr) | crc32c(4) )
//
// The CRC-32C (big-endian, over everything before it) catches a mistyped
// or cut invite: a one-character change is refused instead of making the
// node run alone in a cloud of its own. It holds the secret: whoever has
// it can join the cloud.
const invitePrefix = "murmur2-"

// oldInvitePrefix is version 1's prefix (no checksum), refused by name.
const oldInvitePrefix = "murmur1-"

// Invite limits.
const (
	maxInviteAddrs   = 32
	maxInviteAddrLen = 512
	inviteVersion    = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return invitePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseInvite decodes an invite string.
func ParseInvite(s string) (Invite, error) {
	var in Invite
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, oldInvitePrefix) {
		return in, fmt.Errorf("%w: this invite is from an older murmur (no checksum); ask for a new one (murmur cloud invite)", ErrBadInvite)
	}
	body, ok := strings.CutPrefix(s, invitePrefix)
	if !ok {
		return in, fmt.Errorf("%w: it does not start with %q", ErrBadInvite, invitePrefix)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return in, fmt.Errorf("%w: it is not the text murmur cloud invite printed (mistyped or cut?): %v", ErrBadInvite, err)
	}
	if len(raw) < 4 || binary.BigEndian.Uint32(raw[len(raw)-4:]) != crc32.Checksum(raw[:len(raw)-4], castagnoli) {
		return in, fmt.Errorf("%w: its checksum does not match: the invite was mistyped or cut; copy it again", ErrBadInvite)
	}
	r := wire.NewReader(raw[:len(raw)-4], ErrBadInvite)
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
