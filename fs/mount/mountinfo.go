package mount

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// mountEntry is a line of /proc/self/mountinfo (proc(5)).
type mountEntry struct {
	// Major and Minor are the filesystem's device number, st_dev of
	// every file in it.
	Major, Minor uint32
	// Point is where it is mounted; FSType its type ("fuse.murmur");
	// Source the mount's source ("murmur").
	Point, FSType, Source string
}

// fuse reports whether the entry is a FUSE filesystem.
func (e mountEntry) fuse() bool {
	return e.FSType == "fuse" || strings.HasPrefix(e.FSType, "fuse.")
}

// readMounts returns this process's mounts, in mount order: of two mounts
// on one point the later is on top.
func readMounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	return parseMountinfo(string(b)), nil
}

// parseMountinfo parses mountinfo text, skipping lines it cannot read.
// A line is "ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL...] -
// FSTYPE SOURCE SUPEROPTIONS", with spaces and such in paths escaped as
// octal (\040).
func parseMountinfo(text string) []mountEntry {
	var out []mountEntry
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		major, minor, ok := strings.Cut(f[2], ":")
		ma, err1 := strconv.ParseUint(major, 10, 32)
		mi, err2 := strconv.ParseUint(minor, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, mountEntry{
			Major: uint32(ma), Minor: uint32(mi),
			Point: unescapeOctal(f[4]), FSType: f[sep+1], Source: unescapeOctal(f[sep+2]),
		})
	}
	return out
}

// unescapeOctal undoes the kernel's escaping of a mountinfo path: a
// backslash and three octal digits stand for a byte.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// topMountAt returns the mount on top at dir, if any.
func topMountAt(mounts []mountEntry, dir string) (mountEntry, bool) {
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].Point == dir {
			return mounts[i], true
		}
	}
	return mountEntry{}, false
}
