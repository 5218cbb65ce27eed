package clientcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/backup/forget"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// ForgetCommand is `murmur forget`: by policy (--keep-*) or by ID.
func ForgetCommand() *cli.Command {
	var (
		f      setFlags
		p      forget.Policy
		tags   stringList
		dry    bool
		asJSON bool
	)
	return &cli.Command{
		Name:    "forget",
		Args:    "[SNAPSHOT...]",
		Summary: "forget backup snapshots: those named, or those a --keep-* policy does not keep (needs the admin key; murmur prune then frees their space)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.IntVar(&p.Last, "keep-last", 0, "keep the newest N snapshots (-1: all)")
			fs.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours with one (-1: every hour)")
			fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days with one")
			fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N weeks with one")
			fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months with one")
			fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years with one")
			fs.DurationVar(&p.Within, "keep-within", 0, "keep every snapshot younger than this, counted from the newest (e.g. 720h)")
			fs.Var(&tags, "keep-tag", "keep every snapshot with this tag (repeatable)")
			fs.BoolVar(&dry, "dry-run", false, "say what would be forgotten, and forget nothing")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			p.Tags = tags
			if err := p.Validate(); err != nil {
				return fmt.Errorf("%w: %v", cli.ErrUsage, err)
			}
			byPolicy := !p.Empty()
			if byPolicy == (fl.NArg() > 0) {
				return fmt.Errorf("%w: name the snapshots to forget, or give a --keep-* policy (not both)", cli.ErrUsage)
			}
			c, keys, _, snaps, err := f.snapshots(ctx, w)
			if err != nil {
				return err
			}
			type verdict struct {
				ID      string    `json:"id"`
				Short   string    `json:"short_id"`
				Time    time.Time `json:"time"`
				Host    string    `json:"host"`
				Paths   []string  `json:"paths"`
				Keep    bool      `json:"keep"`
				Reasons []string  `json:"reasons,omitempty"`
			}
			verdicts := []verdict{}
			var gone []backup.SnapshotID
			byID := map[string]*backup.Listed{}
			for i := range snaps {
				byID[snaps[i].ID.String()] = &snaps[i]
			}
			if byPolicy {
				in := make([]forget.Snapshot, len(snaps))
				for i, s := range snaps {
					in[i] = forget.Snapshot{ID: s.ID.String(), Time: s.Time, Host: s.Host, Paths: s.Paths, Tags: s.Tags}
				}
				for _, g := range forget.Apply(in, p, time.Local) {
					for _, d := range g.Decisions {
						s := byID[d.Snapshot.ID]
						verdicts = append(verdicts, verdict{s.ID.String(), s.ID.Short(), s.Time, s.Host, s.Paths, d.Keep, d.Reasons})
						if !d.Keep {
							gone = append(gone, s.ID)
						}
					}
				}
			} else {
				for _, a := range fl.Args() {
					s, err := backup.Find(snaps, a)
					if err != nil {
						return fmt.Errorf("%w: %v", cli.ErrUsage, err)
					}
					verdicts = append(verdicts, verdict{s.ID.String(), s.ID.Short(), s.Time, s.Host, s.Paths, false, nil})
					gone = append(gone, s.ID)
				}
			}
			if !dry {
				if err := backup.Forget(ctx, c.Drive(), keys, gone); err != nil {
					return err
				}
			}
			if asJSON {
				return cli.PrintJSON(w, map[string]any{"dry_run": dry, "forgotten": len(gone), "snapshots": verdicts})
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tHOST\tPATHS\tVERDICT")
			for _, v := range verdicts {
				why := "forget"
				if v.Keep {
					why = "keep: " + strings.Join(v.Reasons, ", ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Short, v.Time.Local().Format(time.DateTime), cli.Quote(v.Host), cli.Quote(strings.Join(v.Paths, " ")), why)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			verb := "forgotten"
			if dry {
				verb = "would be forgotten (dry run)"
			}
			fmt.Fprintf(w, "%d of %d snapshots %s\n", len(gone), len(snaps), verb)
			return nil
		},
	}
}
