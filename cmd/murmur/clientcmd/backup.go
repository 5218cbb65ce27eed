package clientcmd

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	mfs "github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// A node remembers the backup sets made or used on it, in NODE/sets.json:
// the name, the set's public key and, for a machine with an append-only
// key, where its key file is.
const setsFile = "sets.json"

type setEntry struct {
	Name    string `json:"name"`
	Public  string `json:"public_key"`         // hex
	KeyFile string `json:"key_file,omitempty"` // absolute
}

func loadSets(dir string) ([]setEntry, error) { return loadList[setEntry](dir, setsFile) }

func rememberSet(dir string, e setEntry) error {
	ss, err := loadSets(dir)
	if err != nil {
		return err
	}
	for i := range ss {
		if ss[i].Name == e.Name {
			if ss[i].Public != e.Public {
				return fmt.Errorf("%w: this node already knows a backup set named %q", cli.ErrUsage, e.Name)
			}
			if e.KeyFile == "" {
				return nil
			}
			ss[i].KeyFile = e.KeyFile
			e = ss[i]
			ss = append(ss[:i], ss[i+1:]...)
			break
		}
	}
	return saveList(dir, setsFile, append(ss, e))
}

// setFlags are the flags every command that opens a set shares.
type setFlags struct {
	dir, set, keyFile, passFile string
}

func (f *setFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "dir", cli.DefaultDir(), "the node's folder")
	fs.StringVar(&f.set, "set", "", "the backup set: a name this node knows, or a public key (default: the node's only set)")
	fs.StringVar(&f.keyFile, "key-file", "", "unlock with this key file (an append-only key's, or the admin's) instead of the admin key the set's root keeps")
	fs.StringVar(&f.passFile, "passphrase-file", "", "read the passphrase from this file (else $MURMUR_PASSPHRASE, else the terminal)")
}

// resolve turns --set into the set's entry.
func (f *setFlags) resolve() (setEntry, error) {
	if b, err := hex.DecodeString(f.set); err == nil && len(b) == ed25519.PublicKeySize {
		return setEntry{Name: f.set[:12], Public: f.set}, nil
	}
	ss, err := loadSets(f.dir)
	if err != nil {
		return setEntry{}, err
	}
	for _, s := range ss {
		if s.Name == f.set || f.set == "" && len(ss) == 1 {
			return s, nil
		}
	}
	switch {
	case len(ss) == 0:
		return setEntry{}, fmt.Errorf("%w: this node knows no backup set: make one with 'murmur backup init --set NAME', or give --set PUBLIC_KEY", cli.ErrUsage)
	case f.set == "":
		return setEntry{}, fmt.Errorf("%w: this node knows %d backup sets: say which with --set NAME", cli.ErrUsage, len(ss))
	}
	return setEntry{}, fmt.Errorf("%w: no backup set %q on this node", cli.ErrUsage, f.set)
}

// open unlocks the set.
func (f *setFlags) open(ctx context.Context, out io.Writer) (*client.Client, *backup.Keys, setEntry, error) {
	e, err := f.resolve()
	if err != nil {
		return nil, nil, e, err
	}
	pub, err := hex.DecodeString(e.Public)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, nil, e, fmt.Errorf("%s: set %q has a bad public key", filepath.Join(f.dir, setsFile), e.Name)
	}
	kf := f.keyFile
	if kf == "" {
		kf = e.KeyFile
	}
	var raw []byte
	if kf != "" {
		if raw, err = os.ReadFile(kf); err != nil {
			return nil, nil, e, err
		}
	}
	pass, err := passphrase(f.passFile, false, out)
	if err != nil {
		return nil, nil, e, err
	}
	c := client.New(cli.SocketPath(f.dir))
	keys, err := backup.Unlock(ctx, c.Drive(), pub, raw, pass)
	if err != nil {
		return nil, nil, e, err
	}
	if f.keyFile != "" {
		abs, _ := filepath.Abs(f.keyFile)
		e.KeyFile = abs
		if err := rememberSet(f.dir, e); err != nil && !errors.Is(err, cli.ErrUsage) {
			return nil, nil, e, err
		}
	}
	return c, keys, e, nil
}

// snapshots unlocks the set and lists its snapshots.
func (f *setFlags) snapshots(ctx context.Context, out io.Writer) (*client.Client, *backup.Keys, setEntry, []backup.Listed, error) {
	c, keys, e, err := f.open(ctx, out)
	if err != nil {
		return nil, nil, e, nil, err
	}
	snaps, err := backup.Snapshots(ctx, c.Drive(), keys)
	return c, keys, e, snaps, err
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// excluder matches paths against --exclude patterns, as restic does: a
// pattern with a slash against the whole path, one without against each
// name; shell patterns (filepath.Match).
func excluder(patterns []string) (func(string, bool) bool, error) {
	for _, p := range patterns {
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%w: --exclude %q: %v", cli.ErrUsage, p, err)
		}
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	return func(p string, _ bool) bool {
		for _, pat := range patterns {
			if strings.Contains(pat, "/") {
				if ok, _ := filepath.Match(pat, p); ok {
					return true
				}
				continue
			}
			for _, name := range strings.Split(p, "/") {
				if ok, _ := filepath.Match(pat, name); ok && name != "" {
					return true
				}
			}
		}
		return false
	}, nil
}

// BackupCommand is `murmur backup PATH...`, with `init` and `key add`.
func BackupCommand() *cli.Command {
	var (
		f          setFlags
		excludes   stringList
		tags       stringList
		host, name string
		oneFS      bool
		asJSON     bool
		out        string
		appendOnly bool
	)
	return &cli.Command{
		Name:    "backup",
		Args:    "PATH...",
		Summary: "back up folders and files into a backup set (deduplicated, compressed, encrypted)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.Var(&excludes, "exclude", "leave out paths matching this pattern (a name, or a whole path if it has a slash; repeatable)")
			fs.Var(&tags, "tag", "tag the snapshot (repeatable)")
			fs.StringVar(&host, "host", "", "the machine's name in the snapshot (default: the hostname)")
			fs.BoolVar(&oneFS, "one-file-system", false, "do not cross into other file systems")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON (and no progress)")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			if fl.NArg() == 0 {
				return fmt.Errorf("%w: murmur backup PATH...: nothing to back up", cli.ErrUsage)
			}
			ex, err := excluder(excludes)
			if err != nil {
				return err
			}
			var paths []string
			for _, p := range fl.Args() {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				if _, err := os.Lstat(abs); err != nil {
					return fmt.Errorf("%w: %v", cli.ErrUsage, err)
				}
				paths = append(paths, abs)
			}
			if host == "" {
				host, _ = os.Hostname()
			}
			c, keys, _, err := f.open(ctx, w)
			if err != nil {
				return err
			}
			pc := pipelineFor(ctx, c)
			prog := newBackupProgress(os.Stderr, !asJSON)
			if prog.tty {
				// The totals for the bar and its ETA: a scan of the same
				// paths alongside (stats only, about 5 µs an entry).
				go prog.count(ctx, paths, ex, oneFS)
			}
			var warnings []string
			var mu sync.Mutex
			res, err := backup.Run(ctx, c.Drive(), keys, backup.Options{
				Paths: paths, Host: host, Tags: tags, Exclude: ex, OneFileSystem: oneFS,
				CacheDir: filepath.Join(f.dir, "backup-cache"), K: pc.K, M: pc.M,
				Progress: prog.update,
				Warn: func(p string, err error) {
					mu.Lock()
					defer mu.Unlock()
					prog.clear()
					fmt.Fprintf(os.Stderr, "murmur: warning: %s: %v\n", cli.Quote(p), err)
					if len(warnings) < 1000 {
						warnings = append(warnings, fmt.Sprintf("%s: %v", p, err))
					}
				},
			})
			prog.clear()
			if err != nil {
				return err
			}
			s := res.Snapshot
			if asJSON {
				if err := cli.PrintJSON(w, map[string]any{
					"snapshot": res.ID.String(), "short_id": res.ID.Short(), "time": s.Time, "host": s.Host, "paths": s.Paths, "tags": s.Tags,
					"files": s.Stats.Files, "dirs": s.Stats.Dirs, "others": s.Stats.Others, "bytes": s.Stats.Bytes,
					"read_bytes": s.Stats.Read, "new_chunks": s.Stats.NewChunks, "new_bytes": s.Stats.NewBytes,
					"warnings": warnings,
				}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "snapshot %s saved: %d files, %d folders, %d others, %s; read %s, %s new in %d chunks\n",
					res.ID.Short(), s.Stats.Files, s.Stats.Dirs, s.Stats.Others, cli.HumanBytes(int64(s.Stats.Bytes)),
					cli.HumanBytes(int64(s.Stats.Read)), cli.HumanBytes(int64(s.Stats.NewBytes)), s.Stats.NewChunks)
			}
			if res.Warnings > 0 {
				return fmt.Errorf("%w: %d entries were left out or changed while they were read (see the warnings)", backup.ErrIncomplete, res.Warnings)
			}
			return nil
		},
		Sub: []*cli.Command{
			scheduleCommand(),
			{
				Name:    "init",
				Summary: "make a new backup set in the cloud, locked with a passphrase (its admin key)",
				Flags: func(fs *flag.FlagSet) {
					fs.StringVar(&f.dir, "dir", cli.DefaultDir(), "the node's folder")
					fs.StringVar(&f.set, "set", "default", "the set's name on this node")
					fs.StringVar(&f.passFile, "passphrase-file", "", "read the passphrase from this file (else $MURMUR_PASSPHRASE, else the terminal)")
					fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
				},
				Run: func(ctx context.Context, _ *flag.FlagSet, w io.Writer) error {
					pass, err := passphrase(f.passFile, true, w)
					if err != nil {
						return err
					}
					c := client.New(cli.SocketPath(f.dir))
					keys, err := backup.Init(ctx, c.Drive(), pass, crypt.DefaultKDF())
					if err != nil {
						return err
					}
					pub := hex.EncodeToString(keys.Public)
					if err := rememberSet(f.dir, setEntry{Name: f.set, Public: pub}); err != nil {
						return err
					}
					if asJSON {
						return cli.PrintJSON(w, map[string]string{"set": f.set, "public_key": pub})
					}
					fmt.Fprintf(w, "backup set %q made: %s\nback up into it: murmur backup --set %s PATH...\n", f.set, pub, f.set)
					return nil
				},
			},
			{
				Name:    "key",
				Summary: "manage a set's keys",
				Sub: []*cli.Command{{
					Name:    "add",
					Summary: "make an append-only key for a machine: it adds snapshots and can read, forget or prune nothing",
					Flags: func(fs *flag.FlagSet) {
						f.declare(fs)
						fs.StringVar(&name, "name", "", "the key's name, e.g. the machine's (required)")
						fs.StringVar(&out, "out", "", "write the new key file here (required)")
						fs.BoolVar(&appendOnly, "append-only", false, "make an append-only key (required: the only kind of key that can be added)")
						fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
					},
					Run: func(ctx context.Context, _ *flag.FlagSet, w io.Writer) error {
						if !appendOnly || name == "" || out == "" {
							return fmt.Errorf("%w: murmur backup key add --append-only --name NAME --out FILE", cli.ErrUsage)
						}
						if _, err := os.Stat(out); err == nil {
							return fmt.Errorf("%w: %s exists", cli.ErrUsage, out)
						}
						c, keys, e, err := f.open(ctx, w)
						if err != nil {
							return err
						}
						if !asJSON {
							fmt.Fprintf(w, "the new key's passphrase:\n")
						}
						npass, err := passphrase(os.Getenv("MURMUR_NEW_PASSPHRASE_FILE"), true, w)
						if err != nil {
							return err
						}
						raw, err := backup.AddAppender(ctx, c.Drive(), keys, name, npass, crypt.DefaultKDF())
						if err != nil {
							return err
						}
						if err := atomicfile.WriteFile(out, raw, 0o600); err != nil {
							return err
						}
						if asJSON {
							return cli.PrintJSON(w, map[string]string{"name": name, "key_file": out, "set": e.Public})
						}
						fmt.Fprintf(w, "append-only key %q written to %s\non the machine: murmur backup --set %s --key-file %s PATH...\n", name, out, e.Public, filepath.Base(out))
						return nil
					},
				}, {
					Name:    "remove",
					Args:    "NAME",
					Summary: "take an append-only key out of the set (a machine lost or stolen): it no longer unlocks the set and nothing it adds counts; its snapshots so far stay",
					Flags:   f.declare,
					Run: func(ctx context.Context, fs *flag.FlagSet, w io.Writer) error {
						if fs.NArg() != 1 {
							return fmt.Errorf("%w: murmur backup key remove NAME", cli.ErrUsage)
						}
						c, keys, _, err := f.open(ctx, w)
						if err != nil {
							return err
						}
						if err := backup.RemoveAppender(ctx, c.Drive(), keys, fs.Arg(0)); err != nil {
							return err
						}
						fmt.Fprintf(w, "key %q removed: its snapshots so far stay; it knows the set's data key, so it can still tell whether the set holds a chunk it has (docs/security.md)\n", fs.Arg(0))
						return nil
					},
				}, {
					Name:    "list",
					Summary: "list the set's keys",
					Flags: func(fs *flag.FlagSet) {
						f.declare(fs)
						fs.BoolVar(&asJSON, "json", false, "print JSON")
					},
					Run: func(ctx context.Context, _ *flag.FlagSet, w io.Writer) error {
						c, keys, _, err := f.open(ctx, w)
						if err != nil {
							return err
						}
						ks, err := backup.KeyList(ctx, c.Drive(), keys)
						if err != nil {
							return err
						}
						if asJSON {
							return cli.PrintJSON(w, ks)
						}
						tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "NAME\tKIND\tWRITER KEY")
						for _, k := range ks {
							fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Kind, k.Writer[:16])
						}
						return tw.Flush()
					},
				}},
			},
		},
	}
}

// SnapshotsCommand is `murmur snapshots`.
func SnapshotsCommand() *cli.Command {
	var f setFlags
	var asJSON bool
	return &cli.Command{
		Name:    "snapshots",
		Summary: "list a backup set's snapshots, oldest first (needs the admin key)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			if fl.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fl.Arg(0))
			}
			_, _, _, snaps, err := f.snapshots(ctx, w)
			if err != nil {
				return err
			}
			if asJSON {
				type js struct {
					ID     string    `json:"id"`
					Short  string    `json:"short_id"`
					Time   time.Time `json:"time"`
					Host   string    `json:"host"`
					Paths  []string  `json:"paths"`
					Tags   []string  `json:"tags"`
					Writer string    `json:"key"`
					Stats  statsJSON `json:"stats"`
				}
				list := []js{}
				for _, s := range snaps {
					list = append(list, js{s.ID.String(), s.ID.Short(), s.Time, s.Host, s.Paths, s.Tags, s.Writer, statsOf(s.Stats)})
				}
				return cli.PrintJSON(w, list)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tHOST\tKEY\tTAGS\tSIZE\tPATHS")
			for _, s := range snaps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID.Short(), s.Time.Local().Format(time.DateTime), cli.Quote(s.Host), cli.Quote(s.Writer),
					strings.Join(s.Tags, ","), cli.HumanBytes(int64(s.Stats.Bytes)), cli.Quote(strings.Join(s.Paths, " ")))
			}
			return tw.Flush()
		},
	}
}

// RestoreCommand is `murmur restore SNAPSHOT [PATH] --target DIR`.
func RestoreCommand() *cli.Command {
	var f setFlags
	var target string
	var asJSON bool
	return &cli.Command{
		Name:    "restore",
		Args:    "SNAPSHOT [PATH]",
		Summary: "restore a backup snapshot (or the PATH in it) into a folder, with every file's metadata (needs the admin key)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.StringVar(&target, "target", "", "the folder to restore into (required); each entry goes to its path in the snapshot under it")
			fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			if fl.NArg() < 1 || fl.NArg() > 2 || target == "" {
				return fmt.Errorf("%w: murmur restore SNAPSHOT [PATH] --target DIR", cli.ErrUsage)
			}
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			c, keys, _, snaps, err := f.snapshots(ctx, w)
			if err != nil {
				return err
			}
			s, err := backup.Find(snaps, fl.Arg(0))
			if err != nil {
				return fmt.Errorf("%w: %v", cli.ErrUsage, err)
			}
			var warned int
			bar := newBackupProgress(os.Stderr, !asJSON)
			bar.total.Store(s.Stats.Bytes)
			bar.totalFiles.Store(s.Stats.Files)
			bar.counted.Store(fl.Arg(1) == "") // a part of a snapshot has no total
			prog, err := backup.Restore(ctx, c.Drive(), keys, s.Snapshot, backup.RestoreOptions{
				Target: target, Include: fl.Arg(1),
				Progress: func(p backup.RestoreProgress) {
					bar.update(backup.Progress{Bytes: p.Bytes, Read: p.Bytes, Files: p.Entries, Warnings: p.Warnings, Path: p.Path})
				},
				Warn: func(p string, err error) {
					warned++
					bar.clear()
					fmt.Fprintf(os.Stderr, "murmur: warning: %s: %v\n", cli.Quote(p), err)
				},
			})
			bar.clear()
			if err != nil {
				return err
			}
			if asJSON {
				if err := cli.PrintJSON(w, map[string]any{"snapshot": s.ID.String(), "entries": prog.Entries, "bytes": prog.Bytes, "warnings": prog.Warnings}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "snapshot %s restored into %s: %d entries, %s\n", s.ID.Short(), target, prog.Entries, cli.HumanBytes(int64(prog.Bytes)))
			}
			if warned > 0 {
				return fmt.Errorf("%w: %d entries could not be restored (see the warnings)", backup.ErrIncomplete, warned)
			}
			return nil
		},
	}
}

// backupProgress shows a backup's progress on a terminal: a bar over the
// tree's bytes (totalled by a scan alongside), the rate and an ETA, redrawn
// every ttyEvery.
type backupProgress struct {
	out   io.Writer
	tty   bool
	mu    sync.Mutex
	drawn time.Time
	width int
	start time.Time
	// The totals, once the counting scan is done.
	total      atomic.Uint64
	totalFiles atomic.Uint64
	counted    atomic.Bool
}

func newBackupProgress(out *os.File, show bool) *backupProgress {
	return &backupProgress{out: out, tty: show && term.IsTerminal(int(out.Fd())), start: time.Now()}
}

// count totals the regular files' bytes under paths.
func (p *backupProgress) count(ctx context.Context, paths []string, ex func(string, bool) bool, oneFS bool) {
	var bytes, files uint64
	for _, root := range paths {
		opt := fstree.ScanOptions{OneFileSystem: oneFS, OnError: func(string, error) error { return nil }}
		if ex != nil {
			opt.Exclude = func(at string, isDir bool) bool { return ex(filepath.Join(root, at), isDir) }
		}
		err := fstree.Scan(ctx, root, opt, func(e *fstree.Entry) error {
			if e.Attr.Kind == mfs.Regular && e.Link == "" {
				bytes += e.Attr.Size
				files++
			}
			return nil
		})
		if err != nil {
			return
		}
	}
	p.total.Store(bytes)
	p.totalFiles.Store(files)
	p.counted.Store(true)
}

func (p *backupProgress) update(pr backup.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.drawn) < ttyEvery {
		return
	}
	p.drawn = time.Now()
	line := fmt.Sprintf("%d files, %s; read %s, %s new", pr.Files, cli.HumanBytes(int64(pr.Bytes)), cli.HumanBytes(int64(pr.Read)), cli.HumanBytes(int64(pr.Stored)))
	if p.counted.Load() {
		total := p.total.Load()
		frac := 1.0
		if total > 0 {
			frac = min(1, float64(pr.Bytes)/float64(total))
		}
		const width = 20
		bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
		line = fmt.Sprintf("[%s] %3.0f%% %s of %s, %d of %d files; read %s, %s new", bar, frac*100,
			cli.HumanBytes(int64(pr.Bytes)), cli.HumanBytes(int64(total)), pr.Files, p.totalFiles.Load(), cli.HumanBytes(int64(pr.Read)), cli.HumanBytes(int64(pr.Stored)))
		if el := time.Since(p.start); frac > 0.01 && frac < 1 {
			eta := time.Duration(float64(el) * (1 - frac) / frac).Round(time.Second)
			line += fmt.Sprintf(", %s left", eta)
		}
	}
	if pr.Warnings > 0 {
		line += fmt.Sprintf(", %d warnings", pr.Warnings)
	}
	pad := max(0, p.width-len(line))
	fmt.Fprintf(p.out, "\r%s%s", line, strings.Repeat(" ", pad))
	p.width = len(line)
}

func (p *backupProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty || p.width == 0 {
		return
	}
	fmt.Fprintf(p.out, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}
