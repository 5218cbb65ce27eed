// Package clientcmd holds the murmur commands that are thin clients of a
// running daemon: mount, drive, snapshot, put, get, ls, rm, status and
// peers. They reach the node only through its socket (package client), so
// this package imports neither node nor the daemon, nor libp2p nor
// badger; cmd/murmur's deps_test.go fails if one comes back.
//
// `murmur up`, which runs its nodes in its own process, mounts its drive
// with the same ServeDrive, over a DriveCloud of its own, and uses the
// drive helpers here (CreateDrive, Unlock, ResolveDrive, RememberDrive)
// to make and open it.
package clientcmd
