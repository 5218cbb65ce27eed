package clientcmd

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/dashboard"
)

// DashboardCommand is murmur dashboard: it prints the URL of the running
// node's web dashboard, token included, and opens nothing.
func DashboardCommand() *cli.Command {
	var dir string
	return &cli.Command{
		Name:    "dashboard",
		Summary: "print the URL of the node's web dashboard (with its token; it opens nothing)",
		Flags:   func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder") },
		Run: func(ctx context.Context, _ *flag.FlagSet, out io.Writer) error {
			url, err := client.New(cli.SocketPath(dir)).Dashboard(ctx)
			if err != nil {
				return err
			}
			if url == "" {
				return fmt.Errorf("the node in %s serves no dashboard (it was started with --dashboard off)", dir)
			}
			fmt.Fprintln(out, url)
			return nil
		},
	}
}

// DashboardDrives lists the drives mounted from the node in dir, for its
// dashboard.
func DashboardDrives(dir string) func(context.Context) []dashboard.Drive {
	return func(context.Context) []dashboard.Drive {
		var out []dashboard.Drive
		for _, m := range mountStatuses(dir) {
			out = append(out, dashboard.Drive{
				Name: m.Name, Mountpoint: m.Mountpoint, Writer: m.Writer,
				PendingBytes: m.PendingBytes, PendingFiles: m.PendingFiles,
				UploadDone: m.UploadDone, UploadTotal: m.UploadTotal, LastError: m.LastError,
			})
		}
		return out
	}
}

// DashboardBackups lists the backups scheduled on the node in dir, for
// its dashboard.
func DashboardBackups(dir string) func() []dashboard.Backup {
	return func() []dashboard.Backup {
		list, _ := loadSchedules(dir)
		if len(list) == 0 {
			return nil
		}
		runs := loadRuns(dir)
		var out []dashboard.Backup
		for _, sb := range list {
			st := runs[sb.Name]
			out = append(out, dashboard.Backup{
				Name: sb.Name, Schedule: sb.Schedule, Running: st.Running,
				LastStart: st.LastStart, LastOK: st.LastOK, LastError: st.LastError, Next: st.Next,
			})
		}
		return out
	}
}
