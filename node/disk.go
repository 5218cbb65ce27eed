package node

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/zeebo/blake3"
)

// Nodes that share a disk count it once.
//
// A node without a quota offers the cloud its disk: the size of the
// filesystem its store is on, and what is free there. Several nodes of a
// cloud often keep their stores on one filesystem — `murmur up` runs six
// in one process, and an operator may run several `murmur node` processes
// on one host — and if each offered the whole disk, the cloud would count
// that disk once per node (six times a 1 TB disk is not 6 TB of room).
//
// Sharing a disk is a fact about one host, so it is settled on the host,
// exactly, rather than learnt through gossip: every node registers in the
// host's registry of disks, a directory (Config.DiskRegistry) where
// <cloud ID>/<disk ID>/ holds one small file per running node of that
// cloud whose store is on that disk, named by its peer ID and holding its
// quota and stored bytes. A node holds an exclusive flock on its own file
// for as long as it runs; the kernel drops the lock when the process ends,
// however it ends (kill -9 included), so a file whose lock another node can
// take is a dead node's, ignored and removed. Nodes in one process (murmur
// up) and in several processes see each other the same way, since flock
// locks belong to open files, not processes.
//
// The nodes of one disk then offer it together (diskRoom) and each puts
// 1/n of that into aggregation, n the live nodes it sees on the disk
// (itself included), so the shares add up to the disk once. Each node
// reads the registry afresh when an aggregation epoch starts, which is
// the only time its values enter the sums; a node that starts or stops
// between its siblings' readings makes that epoch's total off by about
// one share for that disk (never by a whole disk, as electing one of them
// to offer it all would), and the next epoch is right. There is no
// gossip to wait for: a node is in the registry before it first gossips.
// Across hosts nothing is shared (a DiskID names its host too), so the
// per-host shares simply add up in aggregation like any other value.
//
// What it cannot see: two filesystems that draw on one pool of blocks
// (btrfs subvolumes, or overlay upper directories of several containers
// on one host disk) have distinct device numbers and count twice; one
// network filesystem mounted on several hosts counts once per host; and
// nodes whose registries differ (a private /tmp) do not see each other.
// Each of these only overstates the room, as every node did before.
//
// Placement is unaffected: it reads a node's descriptor, where a node
// without a quota is unlimited, as it always was.

// DefaultDiskRegistry is the host's registry of disks unless
// Config.DiskRegistry says otherwise: in /tmp, which every process of the
// host sees, made sticky and writable by all (as /tmp is) so that nodes
// of different users find each other too. It holds peer IDs, quotas and
// stored bytes, readable by local users.
const DefaultDiskRegistry = "/tmp/murmur-disks"

// DiskID names the filesystem a node's store lives on: a hash of the
// host's machine ID, the filesystem's device number and its statfs fsid.
// Not its path: two paths on one filesystem (bind mounts too) give one
// DiskID, and the same path on two hosts gives two.
type DiskID [16]byte

// String returns the ID in hex.
func (d DiskID) String() string { return hex.EncodeToString(d[:]) }

// diskOf returns the DiskID of the filesystem dir is on.
func diskOf(dir string) (DiskID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return DiskID{}, fmt.Errorf("node: disk of %s: %w", dir, err)
	}
	var sf syscall.Statfs_t
	if err := syscall.Statfs(dir, &sf); err != nil {
		return DiskID{}, fmt.Errorf("node: disk of %s: %w", dir, err)
	}
	h := blake3.New()
	h.Write([]byte("murmur disk id v1\x00"))
	h.Write(hostID())
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], st.Dev)
	binary.BigEndian.PutUint32(b[8:12], uint32(sf.Fsid.X__val[0]))
	binary.BigEndian.PutUint32(b[12:], uint32(sf.Fsid.X__val[1]))
	h.Write(b[:])
	var id DiskID
	copy(id[:], h.Sum(nil))
	return id, nil
}

// hostID names this host: its machine ID, else its boot ID, else its
// host name, followed by a zero byte.
func hostID() []byte {
	for _, p := range []string{"/etc/machine-id", "/proc/sys/kernel/random/boot_id"} {
		if b, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return append(bytes.TrimSpace(b), 0)
		}
	}
	name, _ := os.Hostname()
	return append([]byte(name), 0)
}

// diskSize returns the size of the filesystem dir is on and the bytes an
// unprivileged writer can still put there.
func diskSize(dir string) (size, free int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

// diskEntry is what a node registers of itself on its disk.
type diskEntry struct {
	Quota int64 // its store's capacity; 0: no quota
	Used  int64 // bytes of shards it stores
}

// diskRoom returns what the nodes of one disk, members (every live node
// of the cloud on it), offer the cloud together, given the disk's size
// and free bytes (both 0 if the disk could not be measured): the whole
// disk if any of them has no quota; otherwise the sum of their quotas,
// capped by what the disk can still hold (what they store plus what is
// free), and free the sum of their quotas' free room, capped by what is
// free on the disk.
func diskRoom(size, free int64, members []diskEntry) (capacity, avail int64) {
	var quotas, room, used int64
	for _, m := range members {
		if m.Quota <= 0 {
			return size, min(free, size)
		}
		quotas += m.Quota
		room += max(m.Quota-m.Used, 0)
		used += m.Used
	}
	if size <= 0 { // unmeasured: the quotas as they stand
		return quotas, room
	}
	return min(quotas, used+free), min(room, free)
}

// The registry's entry: magic, version, quota, used, CRC-32C of the rest.
const (
	diskEntryMagic = "MDSK"
	diskEntryLen   = 4 + 1 + 8 + 8 + 4
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func (e diskEntry) marshal() []byte {
	b := make([]byte, 0, diskEntryLen)
	b = append(b, diskEntryMagic...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Quota))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Used))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

var errDiskEntry = errors.New("node: malformed disk registry entry")

func parseDiskEntry(b []byte) (diskEntry, error) {
	if len(b) != diskEntryLen || string(b[:4]) != diskEntryMagic || b[4] != 1 ||
		binary.BigEndian.Uint32(b[diskEntryLen-4:]) != crc32.Checksum(b[:diskEntryLen-4], crc32c) {
		return diskEntry{}, errDiskEntry
	}
	e := diskEntry{Quota: int64(binary.BigEndian.Uint64(b[5:])), Used: int64(binary.BigEndian.Uint64(b[13:]))}
	if e.Quota < 0 || e.Used < 0 {
		return diskEntry{}, errDiskEntry
	}
	return e, nil
}

// diskRegistry is a node's entry in its host's registry of disks, and
// its reading of the other entries of its disk. It is safe for
// concurrent use.
type diskRegistry struct {
	root, cloud, dir string // dir = root/cloud/disk
	self, path       string // this node's name in dir, and its file

	mu     sync.Mutex
	f      *os.File  // this node's entry, exclusively flocked; nil once closed
	rec    diskEntry // what f holds
	others map[string]diskEntry
}

// openDiskRegistry registers a node named self (its peer ID) of cloud
// on disk in the registry at root, holding e.
func openDiskRegistry(root, cloud string, disk DiskID, self string, e diskEntry) (*diskRegistry, error) {
	if cloud == "" || strings.ContainsAny(cloud+self, "/\x00") || self == "" || self[0] == '.' {
		return nil, fmt.Errorf("node: disk registry: bad names %q, %q", cloud, self)
	}
	r := &diskRegistry{root: root, cloud: cloud, self: self, others: map[string]diskEntry{}}
	r.dir = filepath.Join(root, cloud, disk.String())
	r.path = filepath.Join(r.dir, self)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.register(e); err != nil {
		return nil, err
	}
	return r, nil
}

// register makes this node's entry, holding e: a new file, locked and
// written under a hidden name (which readers skip), then renamed into
// place, so no reader ever sees it unlocked. r.mu is held.
func (r *diskRegistry) register(e diskEntry) error {
	var err error
	for range 5 { // a sibling leaving may remove the empty directory meanwhile
		if err = r.mkdirs(); err != nil {
			continue
		}
		var f *os.File
		if f, err = os.CreateTemp(r.dir, "."+r.self+".*"); err != nil {
			continue
		}
		if err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			_ = f.Chmod(0o644)
			if _, err = f.WriteAt(e.marshal(), 0); err == nil {
				err = os.Rename(f.Name(), r.path)
			}
		}
		if err != nil {
			os.Remove(f.Name())
			f.Close()
			continue
		}
		if r.f != nil {
			r.f.Close()
		}
		r.f, r.rec = f, e
		return nil
	}
	return fmt.Errorf("node: disk registry: %w", err)
}

// mkdirs makes root, root/cloud and the disk's directory, sticky and
// writable by all, and checks that none of them is a symbolic link.
func (r *diskRegistry) mkdirs() error {
	for _, d := range []string{r.root, filepath.Join(r.root, r.cloud), r.dir} {
		err := os.Mkdir(d, 0o777|os.ModeSticky)
		if err == nil {
			_ = os.Chmod(d, 0o777|os.ModeSticky) // past the umask
		} else if !errors.Is(err, fs.ErrExist) {
			return err
		}
		if fi, err := os.Lstat(d); err != nil {
			return err
		} else if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", d)
		}
	}
	return nil
}

// update rewrites this node's entry if e differs from what it holds,
// and makes the entry again if it went (a sibling took it for a dead
// node's between its check and its removal, or someone removed it).
func (r *diskRegistry) update(e diskEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	if !r.inPlace() {
		return r.register(e)
	}
	if e == r.rec {
		return nil
	}
	if _, err := r.f.WriteAt(e.marshal(), 0); err != nil {
		return fmt.Errorf("node: disk registry: %w", err)
	}
	r.rec = e
	return nil
}

// inPlace reports whether r.path is still this node's file. r.mu is held.
func (r *diskRegistry) inPlace() bool {
	fi, err := os.Lstat(r.path)
	if err != nil {
		return false
	}
	mine, err := r.f.Stat()
	return err == nil && os.SameFile(fi, mine)
}

// members returns the entries of the other live nodes of the disk. An
// entry that cannot be read whole (it is being rewritten) counts as it
// was last read, or as a node without a quota if it never was.
func (r *diskRegistry) members() []diskEntry {
	ents, _ := os.ReadDir(r.dir) // none if it went
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []diskEntry
	seen := make(map[string]bool, len(ents))
	for _, ent := range ents {
		name := ent.Name()
		if name == r.self || strings.HasPrefix(name, ".") {
			continue
		}
		e, alive := r.read(name)
		if !alive {
			continue
		}
		seen[name] = true
		out = append(out, e)
	}
	for name := range r.others {
		if !seen[name] {
			delete(r.others, name)
		}
	}
	return out
}

// read reads another node's entry, and whether that node is alive; a
// dead node's entry is removed. r.mu is held.
func (r *diskRegistry) read(name string) (diskEntry, bool) {
	path := filepath.Join(r.dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return diskEntry{}, false
	}
	defer f.Close()
	switch err := flock(f, syscall.LOCK_SH|syscall.LOCK_NB); {
	case err == nil:
		// Nobody holds it: its node is gone. Removed only while this
		// node holds it alone and the name still leads to it; a node
		// that renamed a new entry onto the name just after the check
		// makes it again at its next update.
		if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if fi, err := os.Lstat(path); err == nil {
				if mine, err := f.Stat(); err == nil && os.SameFile(fi, mine) {
					os.Remove(path)
				}
			}
		}
		return diskEntry{}, false
	case !errors.Is(err, syscall.EWOULDBLOCK):
		return diskEntry{}, false
	}
	b := make([]byte, diskEntryLen)
	for range 3 {
		if n, _ := f.ReadAt(b, 0); n == diskEntryLen {
			if e, err := parseDiskEntry(b); err == nil {
				r.others[name] = e
				return e, true
			}
		}
	}
	return r.others[name], true
}

// close removes this node's entry (before its lock goes, so nobody sees
// it unlocked) and the directories it leaves empty.
func (r *diskRegistry) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	var err error
	if r.inPlace() {
		err = os.Remove(r.path)
	}
	err = errors.Join(err, r.f.Close())
	r.f = nil
	os.Remove(r.dir) // fails unless empty, as it should
	os.Remove(filepath.Join(r.root, r.cloud))
	if err != nil {
		return fmt.Errorf("node: disk registry: %w", err)
	}
	return nil
}

// flock applies a flock(2) operation to f, again if interrupted.
func flock(f *os.File, how int) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := sc.Control(func(fd uintptr) {
		for {
			if ferr = syscall.Flock(int(fd), how); ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}
