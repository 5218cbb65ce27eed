package clientcmd

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/backup/schedule"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// The backups `murmur node` runs on a schedule are in NODE/backups.json
// (written by `murmur backup schedule`), and how their runs went in
// NODE/backup-runs.json (written by the node at each start and end of a
// run, which `murmur status` shows).
const (
	schedulesFile = "backups.json"
	runsFile      = "backup-runs.json"
)

// scheduledBackup is one backup the node runs on its schedule.
type scheduledBackup struct {
	Name           string   `json:"name"`       // the set's name on this node
	Set            string   `json:"public_key"` // the set's public key, hex
	Paths          []string `json:"paths"`
	Exclude        []string `json:"exclude,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	OneFileSystem  bool     `json:"one_file_system,omitempty"`
	Host           string   `json:"host,omitempty"`
	Schedule       string   `json:"schedule"` // schedule.ParseSpec
	KeyFile        string   `json:"key_file,omitempty"`
	PassphraseFile string   `json:"passphrase_file"`
}

func loadSchedules(dir string) ([]scheduledBackup, error) {
	return loadList[scheduledBackup](dir, schedulesFile)
}

func loadRuns(dir string) map[string]schedule.State {
	b, err := os.ReadFile(filepath.Join(dir, runsFile))
	runs := map[string]schedule.State{}
	if err == nil {
		json.Unmarshal(b, &runs)
	}
	return runs
}

func saveRuns(dir string, runs map[string]schedule.State) error {
	b, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, runsFile), append(b, '\n'), 0o600)
}

// scheduleCommand is `murmur backup schedule`: what the node backs up when.
func scheduleCommand() *cli.Command {
	var (
		f        setFlags
		when     string
		excludes stringList
		tags     stringList
		oneFS    bool
		host     string
		remove   bool
	)
	return &cli.Command{
		Name:    "schedule",
		Args:    "PATH...",
		Summary: "have `murmur node` back up PATH... into the set on a schedule (daily 02:00, or every 6h); murmur status shows the last and next runs",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.StringVar(&when, "at", "02:00", "when: times of day (02:00, or 02:00,14:30) or every DURATION (every 6h)")
			fs.Var(&excludes, "exclude", "leave out paths matching this pattern (repeatable)")
			fs.Var(&tags, "tag", "tag the snapshots (repeatable)")
			fs.BoolVar(&oneFS, "one-file-system", false, "do not cross into other file systems")
			fs.StringVar(&host, "host", "", "the machine's name in the snapshots (default: the hostname)")
			fs.BoolVar(&remove, "remove", false, "stop backing up into the set on a schedule")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			list, err := loadSchedules(f.dir)
			if err != nil {
				return err
			}
			var kept []scheduledBackup
			for _, s := range list {
				if s.Name != e.Name {
					kept = append(kept, s)
				}
			}
			if remove {
				if err := saveList(f.dir, schedulesFile, kept); err != nil {
					return err
				}
				fmt.Fprintf(w, "no more scheduled backups into %q (restart murmur node)\n", e.Name)
				return nil
			}
			spec, err := schedule.ParseSpec(when)
			if err != nil {
				return fmt.Errorf("%w: --at: %v", cli.ErrUsage, err)
			}
			if fl.NArg() == 0 {
				return fmt.Errorf("%w: murmur backup schedule --set NAME --at 02:00 --passphrase-file F PATH...", cli.ErrUsage)
			}
			if f.passFile == "" {
				return fmt.Errorf("%w: a scheduled backup needs --passphrase-file: the node unlocks the set with it, unattended", cli.ErrUsage)
			}
			if _, err := excluder(excludes); err != nil {
				return err
			}
			sb := scheduledBackup{Name: e.Name, Set: e.Public, Exclude: excludes, Tags: tags, OneFileSystem: oneFS, Host: host, Schedule: spec.String()}
			for _, p := range fl.Args() {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				sb.Paths = append(sb.Paths, abs)
			}
			for _, p := range []*string{&f.passFile, &f.keyFile} {
				if *p != "" {
					if *p, err = filepath.Abs(*p); err != nil {
						return err
					}
				}
			}
			sb.PassphraseFile, sb.KeyFile = f.passFile, f.keyFile
			if sb.KeyFile == "" {
				sb.KeyFile = e.KeyFile
			}
			if err := saveList(f.dir, schedulesFile, append(kept, sb)); err != nil {
				return err
			}
			fmt.Fprintf(w, "murmur node will back up %s into %q %s (restart murmur node to take this up)\n", strings.Join(sb.Paths, " "), e.Name, spec)
			return nil
		},
	}
}

// RunScheduledBackups runs the backups of NODE/backups.json on their
// schedules through cloud (the node's own) until ctx ends, retrying
// failed runs, and keeps their states in NODE/backup-runs.json. code
// gives the erasure code for each run.
func RunScheduledBackups(ctx context.Context, dir string, cloud drive.Cloud, code func(context.Context) (int, int, error), log *slog.Logger) error {
	list, err := loadSchedules(dir)
	if err != nil || len(list) == 0 {
		return err
	}
	specs := map[string]schedule.Spec{}
	byName := map[string]scheduledBackup{}
	for _, sb := range list {
		spec, err := schedule.ParseSpec(sb.Schedule)
		if err != nil {
			return fmt.Errorf("%s: backup %q: %w", filepath.Join(dir, schedulesFile), sb.Name, err)
		}
		specs[sb.Name], byName[sb.Name] = spec, sb
	}
	var mu sync.Mutex // guards s and the runs file
	s := schedule.New(specs, loadRuns(dir), schedule.DefaultRetry, time.Now())
	save := func() {
		if err := saveRuns(dir, s.States()); err != nil {
			log.Warn("saving the scheduled backups' states", "err", err)
		}
	}
	mu.Lock()
	save()
	mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		mu.Lock()
		now := time.Now()
		for _, name := range s.Due(now) {
			s.Started(name, now)
			save()
			sb := byName[name]
			wg.Go(func() {
				id, err := runScheduled(ctx, dir, cloud, code, sb, log)
				mu.Lock()
				defer mu.Unlock()
				s.Finished(sb.Name, time.Now(), id, err)
				save()
			})
		}
		wake := s.NextWake()
		mu.Unlock()
		wait := time.Minute // a run ending wakes the loop at its next check at the latest
		if !wake.IsZero() {
			wait = min(wait, max(time.Until(wake), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// runScheduled runs one scheduled backup and returns its snapshot's ID.
func runScheduled(ctx context.Context, dir string, cloud drive.Cloud, code func(context.Context) (int, int, error), sb scheduledBackup, log *slog.Logger) (string, error) {
	log.Info("scheduled backup starting", "set", sb.Name, "paths", sb.Paths)
	pub, err := hex.DecodeString(sb.Set)
	if err != nil {
		return "", fmt.Errorf("bad public key of set %q", sb.Name)
	}
	pass, err := passphrase(sb.PassphraseFile, false, io.Discard)
	if err != nil {
		return "", err
	}
	var raw []byte
	if sb.KeyFile != "" {
		if raw, err = os.ReadFile(sb.KeyFile); err != nil {
			return "", err
		}
	}
	keys, err := backup.Unlock(ctx, cloud, pub, raw, pass)
	if err != nil {
		return "", err
	}
	ex, err := excluder(sb.Exclude)
	if err != nil {
		return "", err
	}
	host := sb.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	var k, m int
	if code != nil {
		k, m, _ = code(ctx)
	}
	var warned int
	res, err := backup.Run(ctx, cloud, keys, backup.Options{
		Paths: sb.Paths, Host: host, Tags: sb.Tags, Exclude: ex, OneFileSystem: sb.OneFileSystem,
		CacheDir: filepath.Join(dir, "backup-cache"), K: k, M: m,
		Warn: func(p string, err error) {
			warned++
			log.Warn("scheduled backup", "set", sb.Name, "path", p, "err", err)
		},
	})
	if err != nil {
		log.Warn("scheduled backup failed", "set", sb.Name, "err", err)
		return "", err
	}
	log.Info("scheduled backup done", "set", sb.Name, "snapshot", res.ID.Short(), "new_bytes", res.Snapshot.Stats.NewBytes)
	if warned > 0 {
		return res.ID.String(), fmt.Errorf("%w: %d entries left out or changed while read (snapshot %s saved)", backup.ErrIncomplete, warned, res.ID.Short())
	}
	return res.ID.String(), nil
}

// printScheduled shows the node's scheduled backups in murmur status.
func printScheduled(out io.Writer, dir string) {
	list, err := loadSchedules(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "backups   %v\n", err)
		return
	}
	if len(list) == 0 {
		return
	}
	runs := loadRuns(dir)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKUP\tSCHEDULE\tLAST RUN\tRESULT\tNEXT RUN")
	for _, sb := range list {
		st := runs[sb.Name]
		last, result, next := "never", "", "when murmur node runs"
		if !st.LastStart.IsZero() {
			last = st.LastStart.Local().Format(time.DateTime)
		}
		switch {
		case st.Running:
			result = "running"
		case st.LastError != "":
			result = fmt.Sprintf("failed (%d in a row): %s", st.Failures, st.LastError)
		case st.LastSnapshot != "":
			result = "snapshot " + st.LastSnapshot[:min(8, len(st.LastSnapshot))]
		}
		if !st.Next.IsZero() {
			next = st.Next.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cli.Quote(sb.Name), sb.Schedule, last, result, next)
	}
	tw.Flush()
}
