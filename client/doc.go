// Package client talks to a running daemon (package daemon) over its local
// API: HTTP and JSON over a unix socket that only the node's owner can
// open (mode 0600 in a 0700 folder). It holds the API's wire types, the
// table of error kinds and the stripe encoding, which the daemon uses
// too, so the two sides share one definition of each. It imports no node
// code (not node, not the daemon, not libp2p nor badger): the murmur
// commands that only talk to a daemon, such as `murmur mount`, are thin
// clients built on it.
//
//	GET    /v1/status        the node: ID, cloud, peers, stored bytes, quota (Status)
//	GET    /v1/peers         connected peers and their addresses ([]Peer)
//	POST   /v1/files?name=N  store the request body as a file; answers its Entry
//	GET    /v1/files         the files stored through this node ([]Entry)
//	GET    /v1/files/{id}    the file's bytes, chunked, its length in Murmur-Size; a read
//	                         failing midway sends an ErrorBody in the Murmur-Error trailer
//	DELETE /v1/files/{id}    take the file out of the catalog and release its shards (Removed)
//	POST   /v1/leases/renew  renew the leases of every file's shards now (LeaseStatus)
//
// The drive's endpoints serve the node's cloud as an drive.Cloud (the
// daemon's DriveCloud) to a mount in another process (Client.Drive):
//
//	PUT  /v1/drive/shards/{id}          store the body, a shard, under its hex ID
//	GET  /v1/drive/shards/{id}?hint=H…  the shard's bytes, checked against its ID; H are holders, base64url
//	POST /v1/drive/stripes              store a stripe (body: docs/format.md, "Daemon API"); answers {"holders": [base64…]}
//	POST /v1/drive/roots                publish the body, a root record signed by the caller
//	GET  /v1/drive/roots/{key}          the newest root record of the drive of that hex public key
//	POST /v1/drive/renew                renew the leases of [{"id": hex, "holder": base64}…], at most MaxRenewBatch
//	POST /v1/drive/release              release them (the same body): holders delete what no lease is left on
//	GET  /v1/drive/space                {"total": bytes, "free": bytes}, zeros when not known
//
// Shards and records travel as raw bytes with a Content-Length, which a
// request must declare; a drive's keys never leave the mount: it signs
// root records itself, and checks every shard and record the daemon
// returns.
//
// Errors are JSON {"error": "...", "kind": "..."} (ErrorBody) with a
// status code; kind names the error class so the client can map it back
// to the same sentinel (the table is kinds, in errors.go): not_found,
// no_file, no_root, stale_root, bad_record, bad_shard, corrupt, auth,
// data (before not_found: too few shards wraps the shards not found), full, bad_request, bad_descriptor, bad_stripe, malformed,
// too_large, no_peers, busy, peer; anything else is internal.
//
// A Client is safe for concurrent use; its requests share connections.
package client
