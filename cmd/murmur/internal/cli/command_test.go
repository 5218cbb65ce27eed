package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

// TestFlagsAfterArguments: flags are parsed wherever they are, and "--"
// makes what follows arguments.
func TestFlagsAfterArguments(t *testing.T) {
	var target string
	var got []string
	c := &Command{Name: "x", Sub: []*Command{{
		Name:  "restore",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&target, "target", "", "") },
		Run: func(_ context.Context, fs *flag.FlagSet, _ io.Writer) error {
			got = fs.Args()
			return nil
		},
	}}}
	for _, tc := range []struct {
		args   []string
		target string
		rest   []string
	}{
		{[]string{"restore", "id", "--target", "d", "p"}, "d", []string{"id", "p"}},
		{[]string{"restore", "--target=d", "id"}, "d", []string{"id"}},
		{[]string{"restore", "id", "--", "--target", "-"}, "", []string{"id", "--target", "-"}},
		{[]string{"restore", "-", "--target", "d"}, "d", []string{"-"}},
	} {
		target, got = "", nil
		if err := c.Execute(context.Background(), tc.args, io.Discard); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if target != tc.target || !slices.Equal(got, tc.rest) {
			t.Errorf("%v: target %q, args %q", tc.args, target, got)
		}
	}
}

// TestParentFlagsBeforeSubcommand: flags given before a subcommand's name
// are the subcommand's, at every level of the tree, with their values
// and booleans told apart by the subtree's flags.
func TestParentFlagsBeforeSubcommand(t *testing.T) {
	var dir, set string
	var asJSON bool
	var ran string
	var rest []string
	leaf := func(name string, flags func(fs *flag.FlagSet)) *Command {
		return &Command{Name: name, Flags: flags, Run: func(_ context.Context, fs *flag.FlagSet, _ io.Writer) error {
			ran, rest = name, fs.Args()
			return nil
		}}
	}
	dirFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "dir", "default", "")
		fs.BoolVar(&asJSON, "json", false, "")
	}
	setFlags := func(fs *flag.FlagSet) {
		dirFlags(fs)
		fs.StringVar(&set, "set", "", "")
	}
	root := &Command{Name: "murmur", Sub: []*Command{
		{Name: "drive", Sub: []*Command{leaf("create", dirFlags), leaf("list", dirFlags)}},
		// backup runs itself (backup PATH) or a subcommand.
		{Name: "backup", Flags: setFlags, Run: func(_ context.Context, fs *flag.FlagSet, _ io.Writer) error {
			ran, rest = "backup", fs.Args()
			return nil
		}, Sub: []*Command{
			leaf("init", setFlags),
			{Name: "key", Sub: []*Command{leaf("list", setFlags)}},
		}},
	}}
	for _, tc := range []struct {
		args      []string
		ran       string
		dir, set  string
		json      bool
		rest      []string
		wantUsage bool
	}{
		{args: []string{"drive", "--dir", "X", "list"}, ran: "list", dir: "X"},
		{args: []string{"drive", "list", "--dir", "X"}, ran: "list", dir: "X"},
		{args: []string{"drive", "--dir=X", "--json", "list"}, ran: "list", dir: "X", json: true},
		{args: []string{"drive", "-json", "-dir", "X", "create", "more"}, ran: "create", dir: "X", json: true, rest: []string{"more"}},
		// From the root, through two levels.
		{args: []string{"--dir", "Y", "drive", "list"}, ran: "list", dir: "Y"},
		{args: []string{"backup", "--set", "s", "key", "--json", "list"}, ran: "list", dir: "default", set: "s", json: true},
		{args: []string{"backup", "--dir", "Z", "init"}, ran: "init", dir: "Z"},
		// backup with flags then a path runs backup itself.
		{args: []string{"backup", "--set", "s", "/home"}, ran: "backup", dir: "default", set: "s", rest: []string{"/home"}},
		// A value that happens to be a subcommand's name is a value.
		{args: []string{"drive", "--dir", "list", "list"}, ran: "list", dir: "list"},
		// An unknown flag is the subcommand's to refuse.
		{args: []string{"drive", "--bogus", "list"}, wantUsage: true},
		// Flags and no subcommand: still a usage error.
		{args: []string{"drive", "--dir", "X"}, wantUsage: true},
		{args: []string{"drive", "--dir", "X", "frob"}, wantUsage: true},
	} {
		dir, set, asJSON, ran, rest = "", "", false, "", nil
		err := root.Execute(context.Background(), tc.args, io.Discard)
		if tc.wantUsage {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("%q: %v, want a usage error", tc.args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if ran != tc.ran || dir != tc.dir || set != tc.set || asJSON != tc.json || !slices.Equal(rest, tc.rest) {
			t.Errorf("%q: ran %q with dir %q set %q json %v args %q", tc.args, ran, dir, set, asJSON, rest)
		}
	}
}

func TestArgsArePaths(t *testing.T) {
	for args, want := range map[string]bool{
		"PATH...": true, "DIR": true, "[MOUNTPOINT]": true, "ID OUT": true, "MODULE.wasm INPUT...": true,
		"": false, "ID...": false, "N": false, "NAME": false, "SNAPSHOT-A SNAPSHOT-B": false, "[SNAPSHOT...]": false,
	} {
		if got := argsArePaths(args); got != want {
			t.Errorf("argsArePaths(%q) = %v", args, got)
		}
	}
}
