package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestBenchMount runs `murmur bench mount` end to end at tiny sizes, so
// its code path cannot rot: a cloud, the mount, the plain directory, the
// second device and (where installed) gocryptfs. It checks that every
// figure is there, not what it is: the machine may be busy.
func TestBenchMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bench mount mounts with mount(2): root only")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	out, err := run(t, "bench", "mount", "--json", "--dir", t.TempDir(), "--size", "3MiB", "--files", "20",
		"--tree-files", "30", "--rest", "0s", "--settle", "0s")
	if err != nil {
		t.Fatalf("bench mount: %v\n%s", err, out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench mount --json printed %q: %v", out, err)
	}
	keys := []string{"seq_write_ratio", "seq_read_ratio", "cold_read_ratio", "create_ratio", "stat_ratio",
		"untar_ratio", "seq_write_cloud_ratio", "create_cloud_ratio", "untar_cloud_ratio",
		"second_device_read_ratio", "second_device_tree_ratio"}
	if _, ok := res["gocryptfs"]; ok {
		keys = append(keys, "vs_gocryptfs_write", "vs_gocryptfs_read", "vs_gocryptfs_create", "vs_gocryptfs_stat", "vs_gocryptfs_tree")
	} else if note, _ := res["gocryptfs_note"].(string); !strings.Contains(note, "gocryptfs") {
		t.Errorf("no gocryptfs figures and no note saying why: %v", res)
	}
	for _, k := range keys {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}
	if res["tree_files"].(float64) != 30 {
		t.Errorf("tree_files = %v, want 30", res["tree_files"])
	}
	// The table, of one part only.
	out, err = run(t, "bench", "mount", "--dir", t.TempDir(), "--size", "1MiB", "--parts", "small", "--files", "5",
		"--rest", "0s", "--gocryptfs=false", "--settle", "0s")
	if err != nil || !strings.Contains(out, "until in the cloud") || !strings.Contains(out, "not measured") {
		t.Fatalf("bench mount: %v\n%s", err, out)
	}
	if _, err := run(t, "bench", "mount", "--parts", "everything"); err == nil {
		t.Fatal("an unknown part was taken")
	}
}
