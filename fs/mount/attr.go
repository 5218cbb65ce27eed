package mount

import (
	"math"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/murmur-cloud/murmur/fs"
)

// blockSize is the st_blksize reported for every inode: the preferred I/O
// size, and the unit of st_blocks' estimate (go-fuse's setBlocks).
const blockSize = 4096

// nsPerSec is the number of nanoseconds in a second.
const nsPerSec = 1_000_000_000

// fillAttr copies the model's attributes a into the kernel's out.
func fillAttr(a fs.Attr, out *fuse.Attr) {
	*out = fuse.Attr{
		Ino:     uint64(a.Ino),
		Size:    a.Size,
		Blocks:  blocks(a),
		Mode:    a.StatMode(),
		Nlink:   a.Nlink,
		Owner:   fuse.Owner{Uid: a.Uid, Gid: a.Gid},
		Rdev:    a.Rdev,
		Blksize: blockSize,
	}
	out.Atime, out.Atimensec = splitNs(a.Atime)
	out.Mtime, out.Mtimensec = splitNs(a.Mtime)
	out.Ctime, out.Ctimensec = splitNs(a.Ctime)
}

// blocks is st_blocks, in 512-byte units: a regular file's size rounded
// up to whole blocks. Nothing else has blocks of its own: a symlink's
// target lives in its inode's record, as a short one does in ext4's and
// tmpfs's inodes, and du counts it as nothing, as there.
func blocks(a fs.Attr) uint64 {
	if a.Kind != fs.Regular {
		return 0
	}
	return (a.Size + blockSize - 1) / blockSize * (blockSize / 512)
}

// splitNs splits a time in ns since the epoch into seconds and
// nanoseconds, as the kernel takes them: seconds as a two's complement
// int64, nanoseconds in [0, 1e9) even before 1970.
func splitNs(ns int64) (sec uint64, nsec uint32) {
	s, n := ns/nsPerSec, ns%nsPerSec
	if n < 0 {
		s, n = s-1, n+nsPerSec
	}
	return uint64(s), uint32(n)
}

// joinNs is the inverse of splitNs. Times the model cannot hold (before
// 1678 or after 2262, outside int64 nanoseconds) are clamped to the
// nearest it can, as ext4 clamps to its own range.
func joinNs(sec uint64, nsec uint32) int64 {
	s := int64(sec)
	switch {
	case s > math.MaxInt64/nsPerSec-1:
		return math.MaxInt64
	case s < math.MinInt64/nsPerSec+1:
		return math.MinInt64
	}
	return s*nsPerSec + int64(nsec)
}

// setAttrIn translates the kernel's setattr into the model's. The
// kernel's own bits (FATTR_FH, FATTR_LOCKOWNER; FATTR_CTIME, which the
// model sets itself on any change) have no counterpart and are dropped.
// A setattr with none of the others is still a change: the kernel sends
// one for chown(2) to -1 and -1, which sets ctime alone.
func setAttrIn(in *fuse.SetAttrIn) fs.SetAttrIn {
	var out fs.SetAttrIn
	v := in.Valid
	if v&fuse.FATTR_MODE != 0 {
		out.Valid |= fs.SetMode
		out.Mode = in.Mode
	}
	if v&fuse.FATTR_UID != 0 {
		out.Valid |= fs.SetUid
		out.Uid = in.Uid
	}
	if v&fuse.FATTR_GID != 0 {
		out.Valid |= fs.SetGid
		out.Gid = in.Gid
	}
	if v&fuse.FATTR_SIZE != 0 {
		out.Valid |= fs.SetSize
		out.Size = in.Size
	}
	if v&fuse.FATTR_ATIME != 0 {
		out.Valid |= fs.SetAtime
		out.Atime = joinNs(in.Atime, in.Atimensec)
	}
	if v&fuse.FATTR_MTIME != 0 {
		out.Valid |= fs.SetMtime
		out.Mtime = joinNs(in.Mtime, in.Mtimensec)
	}
	if v&fuse.FATTR_ATIME_NOW != 0 {
		out.Valid |= fs.SetAtimeNow
	}
	if v&fuse.FATTR_MTIME_NOW != 0 {
		out.Valid |= fs.SetMtimeNow
	}
	if out.Valid == 0 {
		out.Valid = fs.SetCtime
	}
	return out
}

// typeBits returns the S_IFMT bits of kind k.
func typeBits(k fs.Kind) uint32 { return fs.TypeBits(k) }

// fillStatfs copies the model's StatFS into the kernel's out.
func fillStatfs(st fs.StatFS, out *fuse.StatfsOut) {
	*out = fuse.StatfsOut{
		Blocks:  st.Blocks,
		Bfree:   st.Bfree,
		Bavail:  st.Bavail,
		Files:   st.Files,
		Ffree:   st.Ffree,
		Bsize:   st.Bsize,
		NameLen: st.NameLen,
		Frsize:  st.Bsize,
	}
}
