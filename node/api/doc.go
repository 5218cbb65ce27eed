// Package api is the daemon's local API: HTTP and JSON over a unix socket
// that only the node's owner can open (mode 0600 in a 0700 folder). The
// murmur command talks to a running node through it.
//
//	GET  /v1/status        the node: ID, cloud, peers, stored bytes, quota
//	GET  /v1/peers         connected peers and their addresses
//	POST /v1/files?name=N  store the request body as a file; answers its ID
//	GET  /v1/files         the files stored through this node
//	GET  /v1/files/{id}    the file's bytes
//
// Errors are JSON {"error": "...", "kind": "..."} with a status code; kind
// names the error class (not_found, auth, data, full, bad_request,
// internal) so the client can map it back to the same sentinel.
//
// Files are written with the node's drive key (a key file in its folder)
// and their sealed manifests kept in a catalog beside it. Which files a
// drive holds and where its manifests live in the cloud is the drive's
// business (the drive issue): this catalog is local to the node.
package api
