// Package cli is what the murmur command's packages share: the command
// tree (Command, ErrUsage; a parent's flags may come before its
// subcommand), the shell completion scripts made from that tree
// (CompletionCommand), the size flag and the formatting of byte
// counts, and where a node's folder and socket are. It holds no command
// but completion and imports nothing of Murmur's, so a package of commands that uses it
// depends only on what its own commands need.
package cli
