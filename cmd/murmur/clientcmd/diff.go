package clientcmd

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// DiffCommand is `murmur diff A B`.
func DiffCommand() *cli.Command {
	var f setFlags
	var asJSON bool
	return &cli.Command{
		Name:    "diff",
		Args:    "SNAPSHOT-A SNAPSHOT-B",
		Summary: "list what changed from one backup snapshot to another: + added, - removed, M contents, T type, U metadata (needs the admin key)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			if fl.NArg() != 2 {
				return fmt.Errorf("%w: murmur diff SNAPSHOT-A SNAPSHOT-B", cli.ErrUsage)
			}
			c, keys, _, snaps, err := f.snapshots(ctx, w)
			if err != nil {
				return err
			}
			var ab [2]*backup.Listed
			for i := range ab {
				if ab[i], err = backup.Find(snaps, fl.Arg(i)); err != nil {
					return fmt.Errorf("%w: %v", cli.ErrUsage, err)
				}
			}
			type change struct {
				Path string `json:"path"`
				Kind string `json:"kind"`
			}
			changes := []change{}
			st, err := backup.Diff(ctx, c.Drive(), keys, ab[0].Snapshot, ab[1].Snapshot, func(ch backup.Change) error {
				if asJSON {
					changes = append(changes, change{ch.Path, string(ch.Kind)})
					return nil
				}
				_, err := fmt.Fprintf(w, "%c  %s\n", ch.Kind, cli.Quote(ch.Path))
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				return cli.PrintJSON(w, map[string]any{"from": ab[0].ID.String(), "to": ab[1].ID.String(), "changes": changes,
					"added": st.Added, "removed": st.Removed, "modified": st.Modified, "metadata": st.Metadata,
					"added_bytes": st.AddedBytes, "removed_bytes": st.RemovedBytes})
			}
			fmt.Fprintf(w, "%d added, %d removed, %d changed, %d with other metadata; %s added, %s removed\n",
				st.Added, st.Removed, st.Modified, st.Metadata, cli.HumanBytes(int64(st.AddedBytes)), cli.HumanBytes(int64(st.RemovedBytes)))
			return nil
		},
	}
}
