package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version of this binary",
		run: func(_ context.Context, _ *flag.FlagSet, out io.Writer) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			_, err := fmt.Fprintln(out, "murmur", v)
			return err
		},
	}
}
