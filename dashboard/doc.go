// Package dashboard is the node's web dashboard: a small page, its
// script and its style sheet, embedded in the binary (nothing is loaded
// from elsewhere), and two endpoints it reads, a snapshot of the node's
// state as JSON (GET /api/snapshot) and the same snapshot pushed every
// second as server-sent events (GET /api/events).
//
// The data comes from a Source, a small interface the daemon implements
// over its node, so that the handler is tested without a network. The
// traffic chart's figures are sampled on the server side, into a ring
// buffer of the last few minutes (Traffic), from the counters the Source
// reports.
//
// Every request must carry the dashboard's token: in the query (?token=,
// the URL `murmur dashboard` prints), in a cookie the page's first load
// sets, or as a bearer token. Anything else is refused with 401, the
// event stream too; tokens are compared in constant time. The handler
// also refuses a Host header that is not a loopback address, so that a
// web page cannot reach it through a DNS name rebound to 127.0.0.1. The
// daemon listens on loopback only (Listen).
package dashboard
