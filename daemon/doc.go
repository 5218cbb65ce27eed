// Package daemon is a node's local API server: it serves the endpoints
// package client lists, HTTP and JSON over a unix socket that only the
// node's owner can open (mode 0600 in a 0700 folder), and the murmur
// command talks to a running node through it. The wire types, the table
// of error kinds and the stripe encoding are the client's: the daemon
// fills and sends them, translating node's own types and sentinels to
// them once (wire.go).
//
// The drive's endpoints serve the node's cloud as an drive.Cloud
// (DriveCloud, Server.Drive) to a mount in another process (client.Client's
// Drive); a mount in the daemon's own process, as in `murmur up`, uses a
// DriveCloud directly. A drive's keys never reach the daemon: the mount
// signs root records itself, which the daemon checks before publishing
// them.
//
// Files are written with the node's drive key (a key file in its folder)
// and their sealed manifests kept in a catalog beside it. The daemon owns
// the shards of the catalog's files: it renews their leases (leases.go)
// and releases them when a file is removed. Which files a drive holds and
// where its manifests live in the cloud is the drive's business (the
// drive issue): this catalog is local to the node.
package daemon
