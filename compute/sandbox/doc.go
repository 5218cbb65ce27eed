// Package sandbox runs untrusted WebAssembly jobs (WASI preview 1 command
// modules, such as Go programs built with GOOS=wasip1 GOARCH=wasm) on the
// wazero runtime, with bounded memory, wall time and output, and with
// nothing of the host visible to them.
//
// A [Runtime] compiles a module once ([Runtime.Compile]) and keeps the
// compiled code in a small LRU keyed by the module's [ModuleID], the
// SHA-256 of its bytes. Every [Runtime.Run] instantiates a fresh, anonymous
// instance of a compiled module, runs its _start with argv ["job",
// Task.Args...], the task's environment, stdin, and captured stdout and
// stderr, and throws the instance away; Runs share no guest state and any
// number may run at once. A module may import only functions of
// wasi_snapshot_preview1 and must export its memory as "memory"; anything
// else is [ErrBadModule].
//
// A run sees a deterministic world, so replicas of a task on different
// peers produce identical bytes: no preopened directories (every path
// operation fails), no sockets (wazero's experimental socket support is
// never configured), no real clocks (wazero's defaults are used, which are
// fake: the wall clock starts at 2022-01-01T00:00:00Z and the monotonic
// clock at 0, each advancing by exactly 1ms per reading, and sleeping
// returns at once), the environment passed in key order, and random bytes
// from a ChaCha8 stream seeded with the SHA-256 of the module ID, the
// arguments and the environment (the same task always reads the same
// "random" bytes; different tasks read different ones).
//
// A run ends with an error wrapping one of the sentinels: [ErrDeadline]
// when it ran past Limits.Deadline (the caller's own cancellation returns
// ctx.Err() instead), [ErrMemory] when the module asked to grow its memory
// past Config.MemoryLimit and then failed, [ErrOutput] when it wrote more
// than Limits.MaxOutput bytes to stdout, [ErrTrap] when it trapped, and an
// [*ExitError] (which is [ErrExit]) when it exited with a non-zero code.
// [ErrUnknownModule] means the module is not compiled (or was evicted),
// [ErrBadTask] that the task's arguments or environment cannot be passed
// (a NUL byte, a key with '='), [ErrClosed] that the Runtime is closed.
//
// Memory is bounded by a per-run allocator rather than by wazero's own page
// limit, which stays at the wasm32 maximum: a grow past Config.MemoryLimit
// is refused (memory.grow returns -1, which a Go guest turns into "fatal
// error: out of memory" and exit code 2) and recorded, so ErrMemory is
// decided by what the module asked for, never by what it printed. A module
// that survives a refused grow and exits 0 has succeeded.
//
// The deadline costs speed: wazero's WithCloseOnContextDone makes the
// compiled code leave to Go on every loop back-edge to check for
// cancellation, which slows Go guests about sixfold (Go's wasm code puts
// a loop in every function): wordcount map runs at 13.7 MB/s without the
// checks, 2.3 MB/s with them, and 95 MB/s natively (the benchmarks
// BenchmarkWordcountMapUnchecked and BenchmarkWordcountMap).
// It cannot be turned off: without it a guest in a loop cannot be stopped
// and holds its OS thread, blocking the Go garbage collector's
// stop-the-world.
package sandbox
