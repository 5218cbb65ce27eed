// Package fstest holds the randomized model test of a Tree: a seeded
// sequence of operations applied to a Tree and to a reference model kept
// by path, the whole visible namespace, contents, link counts and open
// handles compared after every step. fs runs it over a tree in memory;
// fs/drive runs it over the drive's real state directory and cache files,
// with flushes, fsyncs, commits and crashes (the drive abandoned without
// closing and reopened on what its state directory held) among the steps,
// so the code a mount runs is the code the model checks.
package fstest
