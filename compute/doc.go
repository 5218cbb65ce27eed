// Package compute runs WebAssembly jobs next to the data they read
// (docs/compute.md). A job is a module and stored files; each chunk of
// the files is a task, run by the peer that holds the chunk's data shard
// (delay scheduling: Scheduler), in a sandbox (compute/sandbox), more
// than once, and accepted when the runs agree (Verifier, with BOINC's
// adaptive replication); outvoted peers are ranked down in the
// reputation book.
//
// The job's owner (Owner, on the node that holds the input's keys) hands
// a worker the key of its task's chunk only (crypt.ObjectKey), after the
// worker proves, against the owner's own stripe record, the shard leaves
// that hold the chunk's key nonce; it never hands out the drive key. A
// map task runs over the chunk's whole lines and returns the partial
// lines at its ends, which the owner joins and runs itself (Split,
// Joiner), so a line-oriented job's output equals one run over each
// whole file; a fold task runs a file's chunks in order with the state
// the previous one left.
//
// Verifier and Scheduler are state machines driven by results and a
// clock, with no network; the job loop (Job) drives them over the task
// protocol (wire.go, p2p.go), and Worker answers it on every node that
// offers compute slots (StartNode).
package compute
