package clientcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// PruneCommand is `murmur prune`.
func PruneCommand() *cli.Command {
	var (
		f      setFlags
		opt    backup.PruneOptions
		asJSON bool
	)
	return &cli.Command{
		Name:    "prune",
		Summary: "give back the space of what no kept snapshot uses: condemn it now, release it at a prune once --grace has passed (needs the admin key; backups may run meanwhile)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.DurationVar(&opt.Grace, "grace", backup.DefaultPruneGrace, "how long what is condemned waits before a prune releases it: longer than any backup runs (0: at once, only safe when no backup runs)")
			fs.BoolVar(&opt.DryRun, "dry-run", false, "count what would be condemned and released, and change nothing")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			if fl.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fl.Arg(0))
			}
			c, keys, _, err := f.open(ctx, w)
			if err != nil {
				return err
			}
			st, err := backup.Prune(ctx, c.Drive(), keys, opt)
			if err != nil {
				return err
			}
			if st.Dropped > 0 {
				fmt.Fprintf(os.Stderr, "murmur: warning: %d snapshots are no longer in their writer's own log (a key rewrote its log: do not trust it); the set keeps them\n", st.Dropped)
			}
			if asJSON {
				return cli.PrintJSON(w, map[string]any{"dropped_from_logs": st.Dropped,
					"dry_run": opt.DryRun, "snapshots": st.Snapshots, "forgotten": st.Forgotten,
					"used_stripes": st.Used, "used_bytes": st.UsedBytes,
					"condemned_stripes": st.Condemned, "condemned_bytes": st.CondemnedBytes,
					"released_stripes": st.Released, "released_bytes": st.ReleasedBytes,
					"waiting_stripes": st.Waiting, "spared_stripes": st.Spared,
				})
			}
			fmt.Fprintf(w, "%d snapshots kept, %d forgotten: %d stripes used (%s)\n", st.Snapshots, st.Forgotten, st.Used, cli.HumanBytes(int64(st.UsedBytes)))
			fmt.Fprintf(w, "condemned %d stripes (%s), released %d (%s); %d wait for the grace, %d used again and kept\n",
				st.Condemned, cli.HumanBytes(int64(st.CondemnedBytes)), st.Released, cli.HumanBytes(int64(st.ReleasedBytes)), st.Waiting, st.Spared)
			if opt.DryRun {
				fmt.Fprintln(w, "(dry run: nothing changed)")
			}
			return nil
		},
	}
}
