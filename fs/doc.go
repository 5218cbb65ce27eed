// Package fs presents a drive as a filesystem: a copy-on-write tree of
// sealed directory and file objects whose root is a signed, versioned
// record; a local write-back cache so the mount is fast; snapshots from old
// roots; and a thin go-fuse layer on top.
//
// It holds no code yet: it is built by the drive issue, on the pipeline.
package fs
