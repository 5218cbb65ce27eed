// Package format holds the drive's stored formats as pure functions:
// inode records, the inode-table pages a commit stores in the cloud, the
// super that names a commit's pages and the one before it, and the value
// of the drive's signed root record. Nothing here touches a disk, the
// cloud or a key; the drive (fs/drive), its state directory (fs/state)
// and other commands (backups, tools) encode and decode with it.
//
// Every encoding starts with a version byte; a parser takes every
// version it ever wrote, refuses input it cannot vouch for with an error
// wrapping fs.ErrDamaged, and never panics. The byte formats are in
// docs/format.md ("The drive").
package format
