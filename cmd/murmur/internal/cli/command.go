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
	// Flags given before a subcommand (murmur drive --dir X list) are
	// the subcommand's: they move after its name.
	if moved, ok := c.hoist(args); ok {
		args = moved
	}
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

// hoist finds, past the flags that args start with, the name of one of c's
// subcommands, and returns args with those flags moved after it: murmur
// drive --dir X list is murmur drive list --dir X. Whether a flag takes
// the next word as its value is decided by the flags of c's subtree
// (FlagArity); an unknown flag is taken as one that does not, and left
// for the subcommand to refuse. ok is false when args do not start with
// a flag, or no subcommand name follows the flags.
func (c *Command) hoist(args []string) (moved []string, ok bool) {
	if len(c.Sub) == 0 || len(args) == 0 || !isFlag(args[0]) {
		return nil, false
	}
	var takes map[string]bool
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !isFlag(a) {
			if !c.hasSub(a) {
				return nil, false
			}
			moved = append([]string{a}, args[:i]...)
			return append(moved, args[i+1:]...), true
		}
		if takes == nil {
			takes = c.FlagArity()
		}
		if name, hasValue := flagName(a); !hasValue && takes[name] {
			i++ // its value
		}
	}
	return nil, false
}

// isFlag reports whether a is a flag as package flag sees one; "--" and
// "-" are not.
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }

// flagName returns a flag word's name, and whether it carries its value
// (-name=value).
func flagName(a string) (string, bool) {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], true
	}
	return name, false
}

// FlagSet returns a flag set with c's own flags declared (none for a
// command that only groups others).
func (c *Command) FlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.Flags != nil {
		c.Flags(fs)
	}
	return fs
}

// FlagArity returns, for every flag of c and of the commands below it,
// whether it takes a value (the next word, unless given as -name=value):
// false for a boolean flag.
func (c *Command) FlagArity() map[string]bool {
	m := map[string]bool{}
	c.walk(func(d *Command) {
		d.FlagSet().VisitAll(func(f *flag.Flag) {
			b, isBool := f.Value.(interface{ IsBoolFlag() bool })
			m[f.Name] = m[f.Name] || !(isBool && b.IsBoolFlag())
		})
	})
	return m
}

// walk calls fn on c and every command below it, parents first.
func (c *Command) walk(fn func(*Command)) {
	fn(c)
	for _, s := range c.Sub {
		s.walk(fn)
	}
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
