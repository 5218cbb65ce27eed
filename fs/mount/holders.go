package mount

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Holder is a process that keeps a mount busy, so that Unmount fails with
// EBUSY.
type Holder struct {
	PID int
	// Command is the process's name (/proc/PID/comm).
	Command string
	// What says how it uses the mount: "has a file open in it", "is in
	// it", or several such joined with "and".
	What string
}

// String is "pid 1234 (vim) has a file open in it".
func (h Holder) String() string { return fmt.Sprintf("pid %d (%s) %s", h.PID, h.Command, h.What) }

// The ways a process holds a mount, in the order Holder.What names them.
var holdKinds = []struct {
	link string // under /proc/PID; "fd" is every link in fd/, "maps" the maps file
	what string
}{
	{"fd", "has a file open in it"},
	{"maps", "has a file mapped from it"},
	{"exe", "runs a program from it"},
	{"cwd", "is in it"},
	{"root", "has its root in it"},
}

// Holders returns the processes that use the directory tree at dir
// (normally a mountpoint) in PID order: those with a file open or mapped
// in it, running a program from it, or with their working or root
// directory in it. It reads /proc and never touches dir itself, so it is
// safe on a mount that does not answer. It sees the processes this user
// may inspect (every one, for root); a process it may not inspect, or one
// that exits while it looks, is left out.
func Holders(dir string) ([]Holder, error) {
	dir = filepath.Clean(dir)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	var out []Holder
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		base := filepath.Join("/proc", p.Name())
		var whats []string
		for _, k := range holdKinds {
			if holds(base, k.link, dir) {
				whats = append(whats, k.what)
			}
		}
		if len(whats) == 0 {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(base, "comm"))
		out = append(out, Holder{PID: pid, Command: strings.TrimSpace(string(comm)), What: strings.Join(whats, " and ")})
	}
	slices.SortFunc(out, func(a, b Holder) int { return a.PID - b.PID })
	return out, nil
}

// holds reports whether the process at base (/proc/PID) holds a path
// under dir through link.
func holds(base, link, dir string) bool {
	switch link {
	case "fd":
		fds, err := os.ReadDir(filepath.Join(base, "fd"))
		if err != nil {
			return false
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(base, "fd", fd.Name())); err == nil && under(target, dir) {
				return true
			}
		}
		return false
	case "maps":
		f, err := os.Open(filepath.Join(base, "maps"))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// "address perms offset dev inode path", the path padded
			// with spaces and possibly holding some.
			fields := strings.SplitN(sc.Text(), " ", 6)
			if len(fields) == 6 && under(strings.TrimLeft(fields[5], " "), dir) {
				return true
			}
		}
		return false
	}
	target, err := os.Readlink(filepath.Join(base, link))
	return err == nil && under(target, dir)
}

// under reports whether path, as /proc shows it (perhaps with
// " (deleted)" after it), is dir or below it.
func under(path, dir string) bool {
	path = strings.TrimSuffix(path, " (deleted)")
	return path == dir || strings.HasPrefix(path, dir+"/")
}
