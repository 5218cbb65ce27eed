package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:    "version",
		Summary: "print the version of this binary",
		Run: func(_ context.Context, _ *flag.FlagSet, out io.Writer) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			_, err := fmt.Fprintln(out, "murmur", v)
			return err
		},
	}
}
