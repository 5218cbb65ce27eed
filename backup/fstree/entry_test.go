package fstree_test

import (
	"errors"
	"path"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/backup/fstree"
)

// TestDevEncoding: the encoding is new_encode_dev's, which for every
// number Linux's dev_t holds is the low 32 bits of glibc's makedev.
func TestDevEncoding(t *testing.T) {
	for _, c := range []struct {
		major, minor uint32
		rdev         uint32
		ok           bool
	}{
		{1, 3, 0x103, true},
		{8, 17, 0x811, true},
		{259, 70000, 0x11110370, true},
		{4095, 1<<20 - 1, 0xffffffff, true},
		{0, 0, 0, true},
		{4096, 0, 0, false},
		{0, 1 << 20, 0, false},
	} {
		rdev, ok := fstree.EncodeDev(c.major, c.minor)
		if ok != c.ok {
			t.Errorf("%d:%d: ok %v", c.major, c.minor, ok)
			continue
		}
		if !ok {
			continue
		}
		if want := unix.Mkdev(c.major, c.minor); rdev != c.rdev || uint64(rdev) != want {
			t.Errorf("%d:%d: %#x, want %#x, makedev %#x", c.major, c.minor, rdev, c.rdev, want)
		}
		if major, minor := fstree.DecodeDev(rdev); major != c.major || minor != c.minor {
			t.Errorf("%#x decodes to %d:%d", rdev, major, minor)
		}
	}
}

// TestSplitPath: the paths a restore accepts.
func TestSplitPath(t *testing.T) {
	for p, want := range map[string]string{
		".": "", "a": "a", "a/b": "a|b", "a b/\n/\xff": "a b|\n|\xff", "...": "...", "..a/b..": "..a|b..",
	} {
		parts, err := fstree.SplitPath(p)
		if err != nil || strings.Join(parts, "|") != want {
			t.Errorf("%q: %q, %v", p, parts, err)
		}
	}
	for _, p := range []string{"", "/", "/a", "a/", "a//b", "./a", "a/.", "..", "../a", "a/../b", "a\x00b"} {
		if _, err := fstree.SplitPath(p); !errors.Is(err, fstree.ErrUnsafePath) {
			t.Errorf("%q accepted", p)
		}
	}
}

// FuzzSplitPath: an accepted path is clean, relative and stays below
// its root.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{".", "a/b", "../a", "a//b", "/a", "a/./b", "\xff/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		parts, err := fstree.SplitPath(p)
		if err != nil {
			return
		}
		if p == "." {
			if len(parts) != 0 {
				t.Fatalf("%q: %q", p, parts)
			}
			return
		}
		if path.Clean(p) != p || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") ||
			strings.Contains(p, "\x00") || strings.Join(parts, "/") != p {
			t.Fatalf("%q accepted as %q", p, parts)
		}
		for _, c := range parts {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("%q has component %q", p, c)
			}
		}
	})
}
