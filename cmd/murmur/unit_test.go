package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const unitFile = "../../dist/murmur-node.service"

// TestSystemdUnit checks dist/murmur-node.service with systemd-analyze
// verify, its ExecStart pointed at a real binary (this test's, which is
// murmur), and that it keeps what the README promises of it.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, line := range []string{
		"User=murmur", "StateDirectory=murmur", "ExecStart=/usr/local/bin/murmur node --dir /var/lib/murmur",
		"EnvironmentFile=-/etc/murmur/node.env", "Restart=on-failure", "KillSignal=SIGTERM",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/murmur", "PrivateTmp=yes",
	} {
		if !strings.Contains(unit, "\n"+line+"\n") {
			t.Errorf("the unit has no line %q", line)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the unit is not verified")
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "murmur-node.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(unit, "/usr/local/bin/murmur", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", tmp).CombinedOutput()
	// verify exits 0 on unknown keys, with a warning naming the file:
	// any line about the unit is a failure.
	if err != nil || strings.Contains(string(out), "murmur-node.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestNodeStopsOnSIGTERM: systemd stops the unit with SIGTERM
// (KillSignal); murmur node exits cleanly on it, with 0, so a stop is not
// a failure.
func TestNodeStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	dirs, _ := initCloud(t, 1)
	p := startNode(t, dirs[0])
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("murmur node on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("murmur node did not stop within 30s of SIGTERM")
	}
}
