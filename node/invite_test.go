package node_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/multiformats/go-multiaddr"

	"github.com/murmur-cloud/murmur/node"
)

func TestInvite(t *testing.T) {
	n := newNode(t, node.NewCloudSecret(), 0)
	in := node.Invite{Secret: node.NewCloudSecret(), Addrs: n.Addrs()}
	s := in.String()
	got, err := node.ParseInvite("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != in.Secret || len(got.Addrs) != len(in.Addrs) || !got.Addrs[0].Equal(in.Addrs[0]) {
		t.Fatalf("invite round trip: %+v", got)
	}
	peers, err := got.Peers()
	if err != nil || len(peers) != 1 || peers[0].ID != n.ID() {
		t.Fatalf("Peers = %v, %v", peers, err)
	}
	noID, _ := multiaddr.NewMultiaddr("/ip4/127.0.0.1/tcp/1")
	for name, bad := range map[string]string{
		"prefix":    "murmur3-" + s[len("murmur2-"):],
		"version 1": "murmur1-" + s[len("murmur2-"):],
		"base64":    "murmur2-***",
		"truncated": s[:len(s)-5],
		"empty":     "murmur2-",
		"no peer":   node.Invite{Secret: in.Secret, Addrs: []multiaddr.Multiaddr{noID}}.String(),
		"no secret": node.Invite{}.String(),
	} {
		if _, err := node.ParseInvite(bad); !errors.Is(err, node.ErrBadInvite) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if strings.Contains(s, in.Secret.String()) {
		t.Fatal("the invite shows the secret in hex")
	}
	// Every one-character typo is refused: the checksum catches what
	// would otherwise be a valid invite to another, empty cloud.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := len("murmur2-"); i < len(s); i++ {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, s[i])+1)%64], alphabet[(strings.IndexByte(alphabet, s[i])+37)%64]} {
			typo := s[:i] + string(c) + s[i+1:]
			if _, err := node.ParseInvite(typo); !errors.Is(err, node.ErrBadInvite) {
				t.Fatalf("typo at %d (%q for %q) accepted: %v", i, c, s[i], err)
			}
		}
	}
	if _, err := node.ParseInvite("murmur1-" + s[len("murmur2-"):]); err == nil || !strings.Contains(err.Error(), "older murmur") {
		t.Fatalf("a version 1 invite: %v", err)
	}
}

func FuzzParseInvite(f *testing.F) {
	f.Add("murmur2-Ag")
	f.Add("murmur1-AQ")
	f.Add(node.Invite{Secret: node.CloudSecret{1}}.String())
	a, _ := multiaddr.NewMultiaddr("/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	f.Add(node.Invite{Secret: node.CloudSecret{2}, Addrs: []multiaddr.Multiaddr{a}}.String())
	f.Fuzz(func(t *testing.T, s string) {
		in, err := node.ParseInvite(s)
		if err != nil {
			return
		}
		again, err := node.ParseInvite(in.String())
		if err != nil || again.Secret != in.Secret || len(again.Addrs) != len(in.Addrs) {
			t.Fatalf("a parsed invite does not round trip: %v", err)
		}
	})
}

func TestSetupAndJoin(t *testing.T) {
	dir := t.TempDir()
	id, err := node.Init(dir, node.Setup{Listen: []string{"/ip4/0.0.0.0/tcp/4001"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Init(dir, node.Setup{}); err == nil {
		t.Fatal("Init over an existing node succeeded")
	}
	if _, err := node.InviteFor(dir); !errors.Is(err, node.ErrNoCloud) {
		t.Fatalf("invite before a cloud exists: %v", err)
	}
	secret, err := node.CreateCloud(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.CreateCloud(dir); err == nil {
		t.Fatal("a second cloud was created over the first")
	}
	in, err := node.InviteFor(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.Secret != secret || len(in.Addrs) == 0 {
		t.Fatalf("invite: %v", in)
	}
	for _, a := range in.Addrs {
		if strings.Contains(a.String(), "0.0.0.0") || !strings.Contains(a.String(), id.String()) {
			t.Fatalf("invite address %s: a wildcard, or no peer ID", a)
		}
	}
	// Another machine joins with the invite; joining another cloud is refused.
	other := t.TempDir()
	if _, err := node.Init(other, node.Setup{}); err != nil {
		t.Fatal(err)
	}
	if err := node.Join(other, in); err != nil {
		t.Fatal(err)
	}
	if s, _ := node.LoadSecret(other); s != secret {
		t.Fatal("joining did not save the cloud secret")
	}
	if setup, _ := node.LoadSetup(other); len(setup.Bootstrap) != len(in.Addrs) {
		t.Fatalf("bootstrap list: %v", setup.Bootstrap)
	}
	if err := node.Join(other, node.Invite{Secret: node.NewCloudSecret()}); err == nil {
		t.Fatal("a member of one cloud joined another")
	}
	if _, err := node.LoadSetup(t.TempDir()); !errors.Is(err, node.ErrNotInitialised) {
		t.Fatalf("LoadSetup of an empty folder: %v", err)
	}
}
