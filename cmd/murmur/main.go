// Command murmur is Murmur's one binary: it parses flags, builds configs
// and calls the packages that do the work.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// MURMUR_CPUPROFILE=FILE profiles any command, for `go tool pprof`.
	if path := os.Getenv("MURMUR_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	err := root().Execute(ctx, os.Args[1:], os.Stdout)
	pprof.StopCPUProfile()
	stop()
	if err != nil {
		msg, code := explain(err)
		fmt.Fprintln(os.Stderr, "murmur:", msg)
		os.Exit(code)
	}
}

// root lists every command; completion prints scripts made from this
// tree.
func root() *cli.Command {
	r := &cli.Command{
		Name:    "murmur",
		Summary: "an encrypted peer-to-peer cloud drive",
		Sub: []*cli.Command{
			upCommand(),
			clientcmd.MountCommand(),
			clientcmd.DriveCommand(),
			clientcmd.SnapshotCommand(),
			clientcmd.BackupCommand(),
			clientcmd.SnapshotsCommand(),
			clientcmd.RestoreCommand(),
			clientcmd.ForgetCommand(),
			clientcmd.PruneCommand(),
			clientcmd.CheckCommand(),
			clientcmd.DiffCommand(),
			clientcmd.PutCommand(),
			clientcmd.GetCommand(),
			clientcmd.LsCommand(),
			clientcmd.RmCommand(),
			clientcmd.JobCommand(),
			clientcmd.StatusCommand(),
			clientcmd.PeersCommand(),
			clientcmd.DashboardCommand(),
			initCommand(),
			cloudCommand(),
			nodeCommand(),
			benchCommand(),
			simCommand(),
			versionCommand(),
		},
	}
	r.Sub = append(r.Sub, cli.CompletionCommand(r))
	return r
}
