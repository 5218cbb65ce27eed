package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one node of the command tree: either it has subcommands or it
// runs.
type command struct {
	name    string
	args    string // usage after the flags, e.g. "FILE"
	summary string
	flags   func(fs *flag.FlagSet) // declares the command's flags
	run     func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error
	sub     []*command
}

// errUsage marks a mistake in how murmur was called; the message says what.
var errUsage = errors.New("usage")

func (c *command) execute(ctx context.Context, args []string, out io.Writer) error {
	return c.dispatch(ctx, c.name, args, out)
}

func (c *command) dispatch(ctx context.Context, path string, args []string, out io.Writer) error {
	if len(c.sub) > 0 {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			c.help(out, path)
			if len(args) == 0 {
				return fmt.Errorf("%w: %s needs a command", errUsage, path)
			}
			return nil
		}
		for _, s := range c.sub {
			if s.name == args[0] {
				return s.dispatch(ctx, path+" "+s.name, args[1:], out)
			}
		}
		return fmt.Errorf("%w: %s has no command %q (see '%s help')", errUsage, path, args[0], path)
	}
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: %s [flags] %s\n\n%s\n\nflags:\n", path, c.args, c.summary)
		fs.PrintDefaults()
	}
	if c.flags != nil {
		c.flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return c.run(ctx, fs, out)
}

func (c *command) help(out io.Writer, path string) {
	fmt.Fprintf(out, "%s: %s\n\nusage: %s COMMAND [flags]\n\ncommands:\n", path, c.summary, path)
	subs := append([]*command(nil), c.sub...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	for _, s := range subs {
		fmt.Fprintf(out, "  %-12s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(out, "\nRun '%s COMMAND -h' for a command's flags.\n", strings.TrimSpace(path))
}
