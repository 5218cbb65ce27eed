package mount

import gofs "github.com/hanwen/go-fuse/v2/fs"

// The operations go-fuse finds on the layer's types. An operation missing
// here is go-fuse's default: locks (left to the kernel), Access (the
// kernel checks permissions itself with default_permissions), Lseek
// (computed from Getattr's size), CopyFileRange and Ioctl (ENOTSUP,
// ENOTTY: callers fall back to read and write).
var (
	_ gofs.NodeOnAdder        = (*node)(nil)
	_ gofs.NodeOnForgetter    = (*node)(nil)
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeSetattrer      = (*node)(nil)
	_ gofs.NodeCreater        = (*node)(nil)
	_ gofs.NodeMkdirer        = (*node)(nil)
	_ gofs.NodeMknoder        = (*node)(nil)
	_ gofs.NodeSymlinker      = (*node)(nil)
	_ gofs.NodeLinker         = (*node)(nil)
	_ gofs.NodeReadlinker     = (*node)(nil)
	_ gofs.NodeUnlinker       = (*node)(nil)
	_ gofs.NodeRmdirer        = (*node)(nil)
	_ gofs.NodeRenamer        = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeGetxattrer     = (*node)(nil)
	_ gofs.NodeListxattrer    = (*node)(nil)
	_ gofs.NodeSetxattrer     = (*node)(nil)
	_ gofs.NodeRemovexattrer  = (*node)(nil)
	_ gofs.FileReader         = (*fileHandle)(nil)
	_ gofs.FileWriter         = (*fileHandle)(nil)
	_ gofs.FileFlusher        = (*fileHandle)(nil)
	_ gofs.FileFsyncer        = (*fileHandle)(nil)
	_ gofs.FileReleaser       = (*fileHandle)(nil)
	_ gofs.FileAllocater      = (*fileHandle)(nil)
	_ gofs.FileReaddirenter   = (*dirHandle)(nil)
	_ gofs.FileSeekdirer      = (*dirHandle)(nil)
	_ gofs.FileFsyncdirer     = (*dirHandle)(nil)
	_ gofs.FileReleasedirer   = (*dirHandle)(nil)
)
