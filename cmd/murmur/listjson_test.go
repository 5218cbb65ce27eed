package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// startUpNoMount runs `murmur up --no-mount` as its own process and waits
// until its node answers.
func startUpNoMount(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := murmurCmd("up", "--no-mount", "--dir", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := run(t, "status", "--dir", dir); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("murmur up --no-mount did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkShape walks a decoded JSON value: every key is snake_case and
// every time (a key named time, created, started or ended, or ending in
// _at) is RFC 3339.
func checkShape(t *testing.T, what, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: key %s.%s is not snake_case", what, path, k)
			}
			switch s, isString := e.(string); {
			case !isString:
			case k == "time" || k == "created" || k == "started" || k == "ended" || k == "last" || regexp.MustCompile(`_at$`).MatchString(k):
				if _, err := time.Parse(time.RFC3339, s); err != nil {
					t.Errorf("%s: %s.%s = %q is not RFC 3339", what, path, k, s)
				}
			}
			checkShape(t, what, path+"."+k, e)
		}
	case []any:
		for _, e := range v {
			checkShape(t, what, path+"[]", e)
		}
	}
}

// listJSON runs a listing with --json (in this process, against the
// cloud's node) and decodes its list.
func listJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out, err := run(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("%q: %v\n%s", args, err, out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%q --json printed %q: %v", args, out, err)
	}
	var raw any
	json.Unmarshal([]byte(out), &raw)
	checkShape(t, args[0], "", raw)
	return list
}

// TestListingsJSON runs every listing of murmur with --json against a
// real cloud (murmur up --no-mount) and decodes what it prints: lists
// ([] when empty), snake_case keys, sizes in bytes, RFC 3339 times.
func TestListingsJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	dir := t.TempDir()
	startUpNoMount(t, dir)
	t.Setenv("MURMUR_DIR", dir)
	pass := writeSecret(t, "correct horse battery staple")

	if l := listJSON(t, "ls"); len(l) != 0 {
		t.Fatalf("ls of an empty cloud: %v", l)
	}
	if l := listJSON(t, "job", "list"); len(l) != 0 {
		t.Fatalf("job list with no jobs: %v", l)
	}
	in := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(in, bytes.Repeat([]byte("murmur "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "put", in); err != nil {
		t.Fatal(err)
	}
	if l := listJSON(t, "ls"); len(l) != 1 || l[0]["name"] != "notes.txt" || l[0]["size"] != 7000.0 {
		t.Fatalf("ls: %v", l)
	}
	if l := listJSON(t, "peers"); len(l) != 5 || l[0]["id"] == "" {
		t.Fatalf("peers of a six-node cloud: %v", l)
	}

	// A parent's flags before the subcommand: drive --dir X list.
	if out, err := run(t, "drive", "create", "--name", "docs", "--passphrase-file", pass); err != nil {
		t.Fatalf("drive create: %v\n%s", err, out)
	}
	drives := listJSON(t, "drive", "--dir", dir, "list")
	if len(drives) != 1 || drives[0]["name"] != "docs" || len(drives[0]["public_key"].(string)) != 64 {
		t.Fatalf("drive list: %v", drives)
	}
	if l := listJSON(t, "snapshot", "--drive", "docs", "--passphrase-file", pass, "list"); len(l) == 0 || l[0]["gen"] == nil {
		t.Fatalf("snapshot list: %v", l)
	}

	set := []string{"--set", "office", "--passphrase-file", pass}
	if out, err := run(t, append([]string{"backup", "init"}, set...)...); err != nil {
		t.Fatalf("backup init: %v\n%s", err, out)
	}
	if out, err := run(t, append([]string{"backup"}, append(set, filepath.Dir(in))...)...); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	snaps := listJSON(t, append([]string{"snapshots"}, set...)...)
	if len(snaps) != 1 {
		t.Fatalf("snapshots: %v", snaps)
	}
	if st := snaps[0]["stats"].(map[string]any); st["files"] != 1.0 || st["bytes"] != 7000.0 {
		t.Fatalf("snapshots: stats %v", st)
	}
	if l := listJSON(t, append([]string{"backup", "key", "list"}, set...)...); len(l) != 1 || l[0]["kind"] != "admin" {
		t.Fatalf("backup key list: %v", l)
	}
	// forget prints an object around its list.
	out, err := run(t, append([]string{"forget", "--keep-last", "1", "--dry-run", "--json"}, set...)...)
	var verdicts struct {
		Snapshots []map[string]any `json:"snapshots"`
	}
	if err != nil || json.Unmarshal([]byte(out), &verdicts) != nil || len(verdicts.Snapshots) != 1 || verdicts.Snapshots[0]["id"] != snaps[0]["id"] {
		t.Fatalf("forget --dry-run --json: %v\n%s", err, out)
	}
	var raw any
	json.Unmarshal([]byte(out), &raw)
	checkShape(t, "forget", "", raw)

	out, err = run(t, "status", "--json")
	if err != nil || json.Unmarshal([]byte(out), &raw) != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	checkShape(t, "status", "", raw)
}
