package main

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// Exit codes. They are part of the command's interface for scripts.
const (
	exitFailure    = 1 // anything not listed below
	exitUsage      = 2 // murmur was called wrongly
	exitAuth       = 3 // wrong passphrase or key, or tampered data
	exitData       = 4 // data unreadable: too few shards, corrupt records
	exitNoSpace    = 5 // the cloud or a store is full
	exitNotRunning = 6 // no node answers on the local socket
	exitNotFound   = 7 // no such file
	exitIncomplete = 8 // a backup or restore finished without some entries
	exitStopped    = 130
)

// explain maps an error to the message a user sees and an exit code: the
// one place where error classes meet the command line. The message is the
// wrapped error chain, which names the operation and the cause.
func explain(err error) (string, int) {
	for _, e := range []struct {
		target error
		code   int
		hint   string
	}{
		// Interruption first: a read cut short is not data loss.
		{context.Canceled, exitStopped, ""},
		{context.DeadlineExceeded, exitFailure, " (timed out)"},
		{cli.ErrUsage, exitUsage, ""},
		{client.ErrNotRunning, exitNotRunning, ""},
		{client.ErrUnreachable, exitNotRunning, ""},
		{client.ErrNoFile, exitNotFound, ""},
		{client.ErrNoJob, exitNotFound, ""},
		{crypt.ErrWrongPassphrase, exitAuth, ""},
		{crypt.ErrKeyFile, exitAuth, ""},
		{node.ErrBadInvite, exitUsage, ""},
		{node.ErrBadSecret, exitUsage, ""},
		{crypt.ErrAuth, exitAuth, " (wrong key, or the data was tampered with)"},
		{backup.ErrAppendOnly, exitAuth, ""},
		{backup.ErrIncomplete, exitIncomplete, ""},
		{backup.ErrCheck, exitData, ""},
		{erasure.ErrTooFewShards, exitData, " (too many peers holding this data are gone)"},
		{pipeline.ErrManifest, exitData, ""},
		{erasure.ErrDescriptor, exitData, ""},
		{erasure.ErrCorrupt, exitData, ""},
		{store.ErrFull, exitNoSpace, ""},
		{syscall.ENOSPC, exitNoSpace, ""},
		{fs.ErrNotExist, exitNotFound, ""},
	} {
		if errors.Is(err, e.target) {
			return err.Error() + e.hint, e.code
		}
	}
	return err.Error(), exitFailure
}
