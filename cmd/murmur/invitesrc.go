package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// inviteEnv is the environment variable `murmur node` reads an invite
// from when no --join or --join-file is given.
const inviteEnv = "MURMUR_INVITE"

// inviteText returns the invite `murmur node` was given, if any: from
// --join-file, from standard input (--join -), from --join itself (with a
// warning on warn: the process's arguments are readable by every local
// user in /proc), or from $MURMUR_INVITE.
func inviteText(join, joinFile string, stdin io.Reader, getenv func(string) string, warn io.Writer) (string, error) {
	switch {
	case join != "" && joinFile != "":
		return "", fmt.Errorf("%w: give the invite with --join or --join-file, not both", cli.ErrUsage)
	case joinFile != "":
		b, err := os.ReadFile(joinFile)
		if err != nil {
			return "", fmt.Errorf("read the invite: %w", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return "", fmt.Errorf("%w: the invite file %s is empty", cli.ErrUsage, joinFile)
		}
		return string(b), nil
	case join == "-":
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read the invite from standard input: %w", err)
		}
		if strings.TrimSpace(line) == "" {
			return "", fmt.Errorf("%w: no invite on standard input", cli.ErrUsage)
		}
		return line, nil
	case join != "":
		fmt.Fprintf(warn, "murmur: warning: an invite on the command line is visible to every local user (ps, /proc); prefer --join-file FILE, --join - (standard input) or $%s\n", inviteEnv)
		return join, nil
	}
	return getenv(inviteEnv), nil
}
