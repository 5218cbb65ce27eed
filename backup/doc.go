// Package backup is Murmur's backups: sets of snapshots of directory
// trees, deduplicated across every machine that backs up into a set,
// compressed and encrypted, with append-only keys for the machines being
// backed up. It stores nothing of its own kind: a snapshot's tree is a
// drive commit (fs/format: inode records in pages, a super naming them)
// and every byte goes through the pipeline, so the cloud holds a set as
// it holds a drive, and repair and audits keep it the same way.
//
// A set (keys.go, set.go) has a public key, whose signed root record
// (SetRoot) names the set's box key, its writers and its admin key file.
// Each writer — the admin key, or an append-only key made for one
// machine with AddAppender — publishes a root record of its own pointing
// at its log: one entry per snapshot, each the snapshot sealed to the
// set's box key (so only the admin key reads it) and an index segment
// naming where the chunks that snapshot stored lie.
//
// A backup (run.go, scan.go, batch.go) walks the paths given
// (backup/fstree), reads each regular file through one pipeline Writer
// whose Index is every chunk the set's writers logged (but those a prune
// condemned), and seals chunks under keys drawn from their plaintext
// (pipeline.SealContent): a chunk any machine of the set stored is not
// stored again, and a machine that did not write a chunk cannot read it.
// Each data shard starts with a random salt, so every stripe is one of
// its own however deterministic the chunks. A file whose size, mtime, ctime, inode and device match
// the machine's last snapshot is not read at all: its manifest comes from
// the machine's local cache (cache.go), read alongside the scan. The tree
// is built as the scan goes (tree.go) and each page stored as soon as it
// is complete, so memory stays bounded by the open directories, not the
// size of the tree. Each stripe a backup stores is also noted in a local
// file as soon as it is stored, so a backup killed and run again stores
// none of it again (it renews it first). Every backup renews every stripe
// the set keeps (set.go's view).
//
// Forgetting (forgetting.go) and pruning (prune.go: condemn, then release
// after a grace, so backups need no lock) are the admin key's, as are
// check (check.go), diff (diff.go) and mounting a snapshot as a read-only
// drive (mount.go). Scheduled backups: backup/schedule.
//
// A restore (restore.go) walks a snapshot's tree in scan order and writes
// every entry back with its metadata (backup/fstree's Restorer), reading
// small files' shared shards once through a pipeline.PackedCache.
//
// Retention (backup/forget) decides which snapshots a policy keeps. The
// byte formats are in docs/format.md ("Backup sets"), what they reveal
// and to whom in docs/security.md.
package backup
