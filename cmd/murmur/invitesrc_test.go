package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/node"
)

func TestInviteText(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == inviteEnv {
				return v
			}
			return ""
		}
	}
	file := filepath.Join(t.TempDir(), "invite")
	if err := os.WriteFile(file, []byte("murmur2-fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, join, file, stdin, env string
		want                         string
		usage, warns                 bool
	}{
		{name: "nothing", want: ""},
		{name: "env", env: "murmur2-fromenv", want: "murmur2-fromenv"},
		{name: "file beats env", file: file, env: "murmur2-fromenv", want: "murmur2-fromfile\n"},
		{name: "stdin", join: "-", stdin: "murmur2-fromstdin\nmore\n", want: "murmur2-fromstdin\n"},
		{name: "stdin without newline", join: "-", stdin: "murmur2-x", want: "murmur2-x"},
		{name: "empty stdin", join: "-", stdin: "", usage: true},
		{name: "argument", join: "murmur2-arg", env: "murmur2-fromenv", want: "murmur2-arg", warns: true},
		{name: "both", join: "murmur2-arg", file: file, usage: true},
		{name: "empty file", file: empty, usage: true},
	} {
		var warn bytes.Buffer
		got, err := inviteText(c.join, c.file, strings.NewReader(c.stdin), env(c.env), &warn)
		if c.usage {
			if !errors.Is(err, cli.ErrUsage) {
				t.Errorf("%s: %q, %v: want a usage error", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v: want %q", c.name, got, err, c.want)
		}
		if warned := strings.Contains(warn.String(), "visible to every local user"); warned != c.warns {
			t.Errorf("%s: warning %q", c.name, warn.String())
		}
	}
	if _, err := inviteText("", filepath.Join(t.TempDir(), "missing"), nil, env(""), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "read the invite") {
		t.Errorf("missing file: %v", err)
	}
}

// TestJoinWithoutArgument joins nodes to a cloud with the invite in a
// file, in $MURMUR_INVITE and on standard input, none of which puts it in
// the process list, and refuses an invite with one character changed.
func TestJoinWithoutArgument(t *testing.T) {
	dirs, secret := initCloud(t, 4)
	first := startNode(t, dirs[0])
	a, _ := peer.AddrInfoToP2pAddrs(&first.info)
	invite := node.Invite{Secret: secret, Addrs: a}.String()
	file := filepath.Join(t.TempDir(), "invite")
	if err := os.WriteFile(file, []byte(invite+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	procs := []*nodeProcess{
		startNode(t, dirs[1], "--join-file", file),
		startNodeWith(t, dirs[2], func(c *exec.Cmd) { c.Env = append(c.Env, inviteEnv+"="+invite) }),
		startNodeWith(t, dirs[3], func(c *exec.Cmd) { c.Stdin = strings.NewReader(invite + "\n") }, "--join", "-"),
	}
	for _, p := range procs {
		if args := strings.Join(p.cmd.Args, " "); strings.Contains(args, invite) {
			t.Fatalf("the invite is in the arguments: %s", args)
		}
		waitFor(t, 30*time.Second, "node in "+p.dir+" finds the first", func() bool {
			st, err := client.New(cli.SocketPath(p.dir)).Status(context.Background())
			return err == nil && st.Peers >= 1
		})
	}

	// A typo: one character of the invite's body changed.
	i := len("murmur2-") + 5
	typo := []byte(invite)
	if typo[i] == 'A' {
		typo[i] = 'B'
	} else {
		typo[i] = 'A'
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, err := node.Init(fresh, node.Setup{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "node", "--dir", fresh, "--no-mdns", "--join", "-")
	cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
	cmd.Stdin = strings.NewReader(string(typo) + "\n")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
		t.Fatalf("a typo'd invite: %v\n%s", err, out)
	}
	t.Logf("a typo'd invite: %s", out)
	if !strings.Contains(string(out), "invite") {
		t.Fatalf("a typo'd invite is refused without saying so: %s", out)
	}
}
