package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Command is one node of the command tree: either it has subcommands or it
// runs.
type Command struct {
	Name    string
	Args    string // usage after the flags, e.g. "FILE"
	Summary string
	Flags   func(fs *flag.FlagSet) // declares the command's flags
	Run     func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error
	Sub     []*Command
}

// ErrUsage marks a mistake in how murmur was called; the message says what.
var ErrUsage = errors.New("usage")

// Execute runs the command that args name below c, with its flags parsed
// from args, writing to out. Help is printed to out; a mistake in args is
// an error matching ErrUsage.
func (c *Command) Execute(ctx context.Context, args []string, out io.Writer) error {
	return c.dispatch(ctx, c.Name, args, out)
}

func (c *Command) dispatch(ctx context.Context, path string, args []string, out io.Writer) error {
	// A command with both subcommands and a Run of its own (murmur
	// backup PATH, murmur backup init) runs itself unless its first
	// argument names a subcommand.
	if len(c.Sub) > 0 && c.Run != nil && (len(args) == 0 || !c.hasSub(args[0])) && (len(args) == 0 || args[0] != "help") {
		return c.run(ctx, path, args, out)
	}
	if len(c.Sub) > 0 {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			c.help(out, path)
			if len(args) == 0 {
				return fmt.Errorf("%w: %s needs a command", ErrUsage, path)
			}
			return nil
		}
		for _, s := range c.Sub {
			if s.Name == args[0] {
				return s.dispatch(ctx, path+" "+s.Name, args[1:], out)
			}
		}
		return fmt.Errorf("%w: %s has no command %q (see '%s help')", ErrUsage, path, args[0], path)
	}
	return c.run(ctx, path, args, out)
}

func (c *Command) hasSub(name string) bool {
	for _, s := range c.Sub {
		if s.Name == name {
			return true
		}
	}
	return false
}

// run parses c's flags from args and runs it.
func (c *Command) run(ctx context.Context, path string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: %s [flags] %s\n\n%s\n\nflags:\n", path, c.Args, c.Summary)
		fs.PrintDefaults()
	}
	if c.Flags != nil {
		c.Flags(fs)
	}
	// Flags may come after arguments too (murmur restore ID --target
	// DIR), as people type them; "--" ends the flags.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Parse once more with only the positional arguments left, so that
	// fs.Args() is them.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return c.Run(ctx, fs, out)
}

func (c *Command) help(out io.Writer, path string) {
	fmt.Fprintf(out, "%s: %s\n\nusage: %s COMMAND [flags]\n", path, c.Summary, path)
	if c.Run != nil {
		fmt.Fprintf(out, "   or: %s [flags] %s\n", path, c.Args)
	}
	fmt.Fprintf(out, "\ncommands:\n")
	subs := append([]*Command(nil), c.Sub...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	for _, s := range subs {
		fmt.Fprintf(out, "  %-12s %s\n", s.Name, s.Summary)
	}
	fmt.Fprintf(out, "\nRun '%s COMMAND -h' for a command's flags.\n", strings.TrimSpace(path))
}
