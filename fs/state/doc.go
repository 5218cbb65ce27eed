// Package state is a mount's state directory: the local layer of a drive.
// It keeps every inode's record, with its content's local state and the
// commit epoch of its last change, in a journal (internal/journal) whose
// batches are atomic at any size; and each regular file's bytes in a
// cache file of its own, or, up to InlineMax, inline in its record. It
// implements fs.Contents: a File is a regular file's contents, the
// uploaded version (its base, a pipeline manifest) with the blocks that
// are local in its cache file, fetched from the base on demand through a
// Source, or written since.
//
// The directory:
//
//	DIR/lock       flock'd by the mount using it
//	DIR/journal    the records (docs/format.md, "Local state")
//	DIR/data/INO   cache files, sparse, one per regular file not inline
//
// Flush saves what changed in the tree in one batch, with the drive's
// metadata; with sync it also syncs the journal. Writes reach the journal
// with write(2), so once flushed they survive a crash of the mount
// process; after a sync, a crash of the machine.
package state
