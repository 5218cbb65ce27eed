// Package examples holds the example compute jobs, Go programs in its
// subdirectories (linecount, wordcount, grep, sha256sum), and [Build],
// which compiles one of them to a WebAssembly module for the sandbox.
//
// # The job ABI
//
// A job is a WASI preview 1 command module. It sees argv, env, stdin,
// stdout and stderr and nothing else (no files, no network, fake clocks,
// deterministic random bytes; see package compute/sandbox). argv[0] is
// always "job"; argv[1] names the step:
//
//   - "map": stdin is a run of whole lines (each ends in '\n' except
//     perhaps the last); the job writes its map output to stdout. Further
//     arguments are the job's own (grep's pattern is argv[2]).
//   - "reduce": stdin is the concatenation, in input order, of map
//     outputs; the job writes the final output. For every job here,
//     reduce(map(whole)) equals reduce(map(p1) ‖ map(p2) ‖ …) byte for
//     byte for any split of the input at line boundaries.
//   - "fold" (sha256sum): stdin is one chunk of a file, split anywhere;
//     env MURMUR_STATE is the previous chunk's state in standard base64
//     (absent for the first chunk), MURMUR_FINAL=1 marks the last chunk
//     and MURMUR_NAME is the file's name. The job writes the new state as
//     one base64 line, or on the last chunk the result line.
//
// A job exits 0 on success, 2 on a usage error and 1 on any other
// failure, with a one-line message on stderr. Jobs stream their input;
// wordcount holds its table of words.
//
// The jobs also build as ordinary programs for the host, which is how
// their native speed is measured.
package examples
