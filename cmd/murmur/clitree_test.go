package main

import (
	"flag"
	"testing"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// TestFlagKindsAgree: a flag given before a subcommand (murmur drive --dir
// X list) is told to take a value or not by the flags of the subtree, so a
// name must be a boolean everywhere below a command, or nowhere.
func TestFlagKindsAgree(t *testing.T) {
	type use struct {
		path   string
		isBool bool
	}
	var visit func(c *cli.Command, path string, seen map[string]use)
	visit = func(c *cli.Command, path string, seen map[string]use) {
		c.FlagSet().VisitAll(func(f *flag.Flag) {
			b, ok := f.Value.(interface{ IsBoolFlag() bool })
			isBool := ok && b.IsBoolFlag()
			if prev, ok := seen[f.Name]; ok && prev.isBool != isBool {
				t.Errorf("-%s is a boolean in one of %q and %q and takes a value in the other", f.Name, prev.path, path)
			}
			seen[f.Name] = use{path, isBool}
		})
		for _, s := range c.Sub {
			visit(s, path+" "+s.Name, seen)
		}
	}
	// The root is a parent too (murmur --dir X drive list): one name, one
	// kind, in the whole tree.
	visit(root(), "murmur", map[string]use{})
}
