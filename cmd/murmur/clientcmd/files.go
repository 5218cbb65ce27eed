package clientcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/murmur-cloud/murmur/backup/schedule"
	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// clientCommand is a command that talks to the running node.
func clientCommand(name, args, summary string, run func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error) *cli.Command {
	var dir string
	var asJSON bool
	return &cli.Command{
		Name: name, Args: args, Summary: summary,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			return run(ctx, client.New(cli.SocketPath(dir)), fs, out, asJSON)
		},
	}
}

// PutCommand is `murmur put PATH...`.
func PutCommand() *cli.Command {
	return clientCommand("put", "PATH...", "store files in the cloud's flat file store (folders recursively); prints their IDs.\n"+
		"This store is not a drive: its files are listed by 'murmur ls' and read by 'murmur get ID',\n"+
		"and do not appear in a mounted drive (use 'murmur mount' and copy files there for that).\n"+
		"A folder's files are named by their path from the folder's parent (put photos: photos/a.jpg).",
		func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error {
			if fs.NArg() == 0 {
				return fmt.Errorf("%w: murmur put PATH...", cli.ErrUsage)
			}
			files, err := putList(fs.Args())
			if err != nil {
				return err
			}
			var stored []*client.Entry
			for _, f := range files {
				e, err := putOne(ctx, c, f)
				if err != nil {
					return err
				}
				stored = append(stored, e)
				if !asJSON {
					if len(fs.Args()) == 1 && len(files) == 1 {
						fmt.Fprintln(out, e.ID)
					} else {
						fmt.Fprintf(out, "%s  %s\n", e.ID, cli.Escape(e.Name))
					}
				}
			}
			if asJSON {
				if len(fs.Args()) == 1 && len(files) == 1 {
					return cli.PrintJSON(out, stored[0])
				}
				return cli.PrintJSON(out, stored)
			}
			return nil
		})
}

// putFile is a local file to store and the name it is stored under.
type putFile struct{ path, name string }

// putList expands paths into the files to store: a file as its base
// name, a folder's regular files (recursively, symbolic links not
// followed) by their path from the folder's parent. Every path is checked
// before anything is stored.
func putList(paths []string) ([]putFile, error) {
	var files []putFile
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%w: %s is not a regular file", cli.ErrUsage, p)
			}
			files = append(files, putFile{p, filepath.Base(p)})
			continue
		}
		parent := filepath.Dir(filepath.Clean(p))
		err = filepath.WalkDir(p, func(path string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				if !d.IsDir() {
					fmt.Fprintf(os.Stderr, "murmur: put: skipped %s: not a regular file\n", cli.Escape(path))
				}
				return nil
			}
			rel, err := filepath.Rel(parent, path)
			if err != nil {
				return err
			}
			files = append(files, putFile{path, filepath.ToSlash(rel)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func putOne(ctx context.Context, c *client.Client, pf putFile) (*client.Entry, error) {
	f, err := os.Open(pf.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	p := newProgress("put "+pf.name, fi.Size())
	e, err := c.Put(ctx, pf.name, io.TeeReader(f, p))
	p.finish(err)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", cli.Escape(pf.path), err)
	}
	return e, nil
}

// GetCommand is `murmur get ID OUT`.
func GetCommand() *cli.Command {
	var force bool
	cmd := clientCommand("get", "ID OUT", "fetch a file of the flat file store (see 'murmur ls') into OUT (- for standard output)",
		func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error {
			if fs.NArg() != 2 {
				return fmt.Errorf("%w: murmur get ID OUT", cli.ErrUsage)
			}
			var w io.Writer = out
			var f *os.File
			if fs.Arg(1) != "-" {
				if _, err := os.Lstat(fs.Arg(1)); err == nil && !force {
					return fmt.Errorf("%s: %w (--force replaces it)", fs.Arg(1), iofs.ErrExist)
				}
				var err error
				tmp := fs.Arg(1) + ".murmur-partial"
				if f, err = os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); err != nil {
					return err
				}
				defer os.Remove(tmp) // gone once renamed; removed if anything failed
				w = f
			}
			var p *progress
			n, err := c.Get(ctx, fs.Arg(0), writerFunc(func(b []byte) (int, error) {
				if p != nil {
					p.Write(b)
				}
				return w.Write(b)
			}), func(size int64) { p = newProgress("get", size) })
			if p != nil {
				p.finish(err)
			}
			if f != nil {
				if err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err == nil {
					err = placeOutput(f.Name(), fs.Arg(1), force)
				}
			}
			if err != nil {
				if f == nil && n > 0 {
					return fmt.Errorf("the output is incomplete (%d bytes written): %w", n, err)
				}
				return err
			}
			if asJSON && f != nil {
				return cli.PrintJSON(out, map[string]any{"id": fs.Arg(0), "bytes": n, "out": fs.Arg(1)})
			}
			return nil
		})
	flags := cmd.Flags
	cmd.Flags = func(fs *flag.FlagSet) {
		flags(fs)
		fs.BoolVar(&force, "force", false, "replace OUT if it exists")
	}
	return cmd
}

// placeOutput moves the fetched file tmp to out: replacing out when force
// is set, else only if out still does not exist (a hard link fails if it
// does, where a rename would replace a file made during the fetch).
func placeOutput(tmp, out string, force bool) error {
	if force {
		return os.Rename(tmp, out)
	}
	err := os.Link(tmp, out)
	switch {
	case err == nil:
		return os.Remove(tmp)
	case errors.Is(err, iofs.ErrExist):
		return fmt.Errorf("%s: %w (--force replaces it)", out, iofs.ErrExist)
	}
	// No hard links on this filesystem: as close as it allows.
	if _, serr := os.Lstat(out); serr == nil {
		return fmt.Errorf("%s: %w (--force replaces it)", out, iofs.ErrExist)
	}
	return os.Rename(tmp, out)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// LsCommand is `murmur ls`.
func LsCommand() *cli.Command {
	return clientCommand("ls", "", "list the files stored through this node",
		func(ctx context.Context, c *client.Client, _ *flag.FlagSet, out io.Writer, asJSON bool) error {
			list, err := c.List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return cli.PrintJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSIZE\tCODE\tSTORED\tNAME")
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, cli.HumanBytes(e.Size), e.Code(), e.Created.Local().Format(time.DateTime), cli.Escape(e.Name))
			}
			return tw.Flush()
		})
}

// RmCommand is `murmur rm ID...`.
func RmCommand() *cli.Command {
	return clientCommand("rm", "ID...", "remove files from the cloud and give their space back",
		func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error {
			if fs.NArg() == 0 {
				return fmt.Errorf("%w: murmur rm ID...", cli.ErrUsage)
			}
			var done []*client.Removed
			for _, id := range fs.Args() {
				r, err := c.Remove(ctx, id)
				if err != nil {
					return err
				}
				done = append(done, r)
				if !asJSON {
					fmt.Fprintf(out, "removed %s (%d shards released", r.ID, r.Released)
					if r.Failed > 0 {
						fmt.Fprintf(out, "; %d on unreachable peers expire with their leases", r.Failed)
					}
					fmt.Fprintln(out, ")")
				}
			}
			if asJSON {
				return cli.PrintJSON(out, done)
			}
			return nil
		})
}

// StatusCommand is `murmur status`.
func StatusCommand() *cli.Command {
	cmd := clientCommand("status", "", "show this node: peers, stored bytes, capacity, and its mounted drives",
		func(ctx context.Context, c *client.Client, _ *flag.FlagSet, out io.Writer, asJSON bool) error {
			s, err := c.Status(ctx)
			if err != nil {
				return err
			}
			mounts := mountStatuses(filepath.Dir(c.Socket()))
			if asJSON {
				return cli.PrintJSON(out, struct {
					*client.Status
					Mounts  []mountStatus             `json:"mounts"`
					Backups map[string]schedule.State `json:"scheduled_backups,omitempty"`
				}{s, mounts, loadRuns(filepath.Dir(c.Socket()))})
			}
			defer printScheduled(out, filepath.Dir(c.Socket()))
			defer printMounts(out, mounts)
			capacity := "no quota"
			if s.Capacity > 0 {
				capacity = cli.HumanBytes(s.Capacity)
			}
			fmt.Fprintf(out, "node      %s\ncloud     %s\npeers     %d connected\nstored    %s for the cloud (capacity: %s)\nfiles     %d stored through this node\n",
				s.ID, s.Cloud, s.Peers, cli.HumanBytes(s.StoredBytes), capacity, s.Files)
			if s.ComputeSlots > 0 {
				fmt.Fprintf(out, "compute   %d slots, %s a job\n", s.ComputeSlots, cli.FormatSize(s.ComputeMemory))
			} else {
				fmt.Fprintln(out, "compute   no slots offered")
			}
			if g := s.Gossip; g.Size > 0 {
				fmt.Fprintf(out, "members   about %.1f (gossip epoch %d, median of %d counts); they offer %s, %s free, store %s\n",
					g.Size, g.Epoch, g.Instances, cli.HumanBytes(int64(g.Capacity)), cli.HumanBytes(int64(g.Free)), cli.HumanBytes(int64(g.Stored)))
			} else {
				fmt.Fprintf(out, "members   no size estimate yet (gossip cycle %d; the first epoch is still running)\n", g.Cycles)
			}
			if sp := s.Space; sp.Total > 0 {
				whose := "the cloud, from gossip"
				if !sp.Estimated {
					whose = "what this node sees itself, before gossip's first estimate"
				}
				fmt.Fprintf(out, "space     %s in all, %s free, %s stored, parity included (%s)\n",
					cli.HumanBytes(int64(sp.Total)), cli.HumanBytes(int64(sp.Free)), cli.HumanBytes(int64(sp.Stored)), whose)
			}
			if dk := s.Disk; dk.Size > 0 {
				fmt.Fprintf(out, "disk      %s, %s free; %d node(s) of this cloud share it, offering %s", cli.HumanBytes(dk.Size), cli.HumanBytes(dk.Free), dk.Nodes, cli.HumanBytes(dk.Capacity))
				if dk.Alone != "" {
					fmt.Fprintf(out, " (counted as this node's own: %s)", dk.Alone)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "gossip    view of %d, rank %.2f by capacity (slice %d of 10), %.0f bytes per cycle\n", s.Gossip.View, s.Gossip.Rank, s.Gossip.Slice, s.Gossip.BytesPerCyc)
			if s.Code != nil {
				fmt.Fprintf(out, "code      %s\n", s.Code.Why)
			} else {
				fmt.Fprintf(out, "code      none possible: %s\n", s.CodeError)
			}
			p := s.Providers
			fmt.Fprintf(out, "providers %d records announced, %d queued, %d sweeps\n", p.Records, p.Queued, p.Sweeps)
			a := s.Audits
			fmt.Fprintf(out, "audits    %d passed, %d failed, %d missing, %d timed out (%d shards at peers audited, of %d stripes held)\n",
				a.Passed, a.Failed, a.Missing, a.TimedOut, a.Targets, a.Stripes)
			fmt.Fprintf(out, "scrubs    %d shards re-hashed: %d corrupt, %d missing", a.Scrubbed, a.ScrubCorrupt, a.ScrubMissing)
			if a.ScrubLag > 0 {
				fmt.Fprintf(out, "; %s behind schedule", time.Duration(a.ScrubLag*float64(time.Second)).Round(time.Second))
			}
			fmt.Fprintf(out, "; %d repair candidates queued\n", a.RepairQueue)
			printRepairs(out, s.Repairs)
			l := s.Leases
			switch {
			case l.Last.IsZero():
				fmt.Fprintln(out, "leases    not renewed yet since the node started")
			case l.Error != "":
				fmt.Fprintf(out, "leases    last renewal at %s failed: %s\n", l.Last.Local().Format(time.DateTime), l.Error)
			default:
				fmt.Fprintf(out, "leases    %d of %d shards renewed at %s", l.Renewed, l.Shards, l.Last.Local().Format(time.DateTime))
				if l.Missing+l.Failed > 0 {
					fmt.Fprintf(out, " (%d missing at their holder, %d holders unreachable)", l.Missing, l.Failed)
				}
				fmt.Fprintln(out)
			}
			return nil
		})
	return cmd
}

// printMounts shows the node's running mounts and what they have not
// uploaded yet.
func printMounts(out io.Writer, mounts []mountStatus) {
	if len(mounts) == 0 {
		fmt.Fprintln(out, "drives    none mounted")
		return
	}
	for _, m := range mounts {
		mode := "writer"
		if !m.Writer {
			mode = "read-only: " + m.ReadOnlyWhy
		}
		fmt.Fprintf(out, "drive     %s at %s (%s), snapshot %d; pending upload: %s in %d files; cached %s",
			m.Name, m.Mountpoint, mode, m.Snapshot, cli.HumanBytes(m.PendingBytes), m.PendingFiles, cli.HumanBytes(m.CachedBytes))
		if m.UploadTotal > 0 {
			fmt.Fprintf(out, "; uploading %s of %s", cli.HumanBytes(m.UploadDone), cli.HumanBytes(m.UploadTotal))
		}
		if m.LastError != "" {
			fmt.Fprintf(out, "; last commit failed: %s", m.LastError)
		}
		if m.StateError != "" {
			fmt.Fprintf(out, "; its state directory cannot be written (changes kept in memory until it can): %s", m.StateError)
		}
		fmt.Fprintln(out)
	}
}

// PeersCommand is `murmur peers`.
func PeersCommand() *cli.Command {
	return clientCommand("peers", "", "list the peers this node is connected to",
		func(ctx context.Context, c *client.Client, _ *flag.FlagSet, out io.Writer, asJSON bool) error {
			peers, err := c.Peers(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return cli.PrintJSON(out, peers)
			}
			for _, p := range peers {
				au := p.Audits
				fmt.Fprintf(out, "%s  reliability %.2f (evidence %.0f); audits %d passed, %d failed, %d missing, %d timed out",
					p.ID, p.Reliability, p.Evidence, au.Passed, au.Failed, au.Missing, au.TimedOut)
				if p.Slots > 0 {
					fmt.Fprintf(out, "; compute %d slots, %d free", p.Slots, p.SlotsFree)
				}
				fmt.Fprintln(out)
				for _, a := range p.Addrs {
					fmt.Fprintln(out, "  ", a)
				}
			}
			return nil
		})
}

// progress draws a progress line on standard error when it is a terminal.
type progress struct {
	op          string
	total, sent int64
	start, last time.Time
	tty         bool
}

func newProgress(op string, total int64) *progress {
	fi, err := os.Stderr.Stat()
	return &progress{op: op, total: total, start: time.Now(), tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) Write(b []byte) (int, error) {
	p.sent += int64(len(b))
	if p.tty && time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.sent) / float64(p.total)
	}
	rate := float64(p.sent) / (1 << 20) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(os.Stderr, "\r%s %5.1f%%  %s of %s  %.0f MiB/s ", p.op, pct, cli.HumanBytes(p.sent), cli.HumanBytes(p.total), rate)
}

func (p *progress) finish(err error) {
	if p.tty {
		p.draw()
		if err != nil {
			fmt.Fprintln(os.Stderr, " failed")
		} else {
			fmt.Fprintln(os.Stderr)
		}
	}
}
