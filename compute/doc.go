// Package compute runs WebAssembly jobs next to the data they read:
// sandboxed with CPU, memory and time limits, scheduled on the peers that
// hold their input chunks, run on more than one peer and accepted when the
// results agree. A job gets per-chunk keys for its input, never the drive
// key.
//
// So far it holds the sandbox jobs run in (compute/sandbox) and the
// example jobs with their ABI (compute/examples); scheduling and
// replicated runs are to come.
package compute
