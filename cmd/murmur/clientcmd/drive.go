package clientcmd

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
	"github.com/murmur-cloud/murmur/pipeline"
)

// A node remembers the drives made or mounted on it by name, in
// NODE/drives.json: the name and the drive's public key, which is all
// another device needs besides the passphrase.
const drivesFile = "drives.json"

type driveEntry struct {
	Name   string `json:"name"`
	Public string `json:"public_key"` // hex
}

func loadDrives(dir string) ([]driveEntry, error) { return loadList[driveEntry](dir, drivesFile) }

// loadList reads a JSON list the node keeps in dir (drives.json,
// sets.json); a missing file is an empty list.
func loadList[T any](dir, name string) ([]T, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []T
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return list, nil
}

// saveList writes a JSON list the node keeps in dir, atomically.
func saveList[T any](dir, name string, list []T) error {
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o600)
}

// RememberDrive records that the drive of pub is called name on the node
// of dir; a name taken by another drive is a usage error.
func RememberDrive(dir, name string, pub ed25519.PublicKey) error {
	ds, err := loadDrives(dir)
	if err != nil {
		return err
	}
	h := hex.EncodeToString(pub)
	for i := range ds {
		if ds[i].Name == name {
			if ds[i].Public == h {
				return nil
			}
			return fmt.Errorf("%w: this node already knows a drive named %q", cli.ErrUsage, name)
		}
	}
	return saveList(dir, drivesFile, append(ds, driveEntry{Name: name, Public: h}))
}

// ResolveDrive turns --drive (a name this node knows, or a public key in
// hex) into the drive's public key. An empty name is the node's only
// drive.
func ResolveDrive(dir, name string) (ed25519.PublicKey, string, error) {
	if b, err := hex.DecodeString(name); err == nil && len(b) == ed25519.PublicKeySize {
		return b, name[:12], nil
	}
	ds, err := loadDrives(dir)
	if err != nil {
		return nil, "", err
	}
	for _, d := range ds {
		if d.Name == name || name == "" && len(ds) == 1 {
			b, err := hex.DecodeString(d.Public)
			if err != nil || len(b) != ed25519.PublicKeySize {
				return nil, "", fmt.Errorf("%s: drive %q has a bad public key", filepath.Join(dir, drivesFile), d.Name)
			}
			return b, d.Name, nil
		}
	}
	switch {
	case len(ds) == 0:
		return nil, "", fmt.Errorf("%w: this node knows no drive: make one with 'murmur drive create', or give --drive PUBLIC_KEY of a drive made elsewhere", cli.ErrUsage)
	case name == "":
		return nil, "", fmt.Errorf("%w: this node knows %d drives: say which with --drive NAME", cli.ErrUsage, len(ds))
	}
	return nil, "", fmt.Errorf("%w: no drive %q on this node (see 'murmur drive list')", cli.ErrUsage, name)
}

// passphrase reads a drive's passphrase: from file if given, else from
// $MURMUR_PASSPHRASE, else from the terminal (twice when confirm), else a
// line of standard input.
func passphrase(file string, confirm bool, out io.Writer) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if p := os.Getenv("MURMUR_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return nil, fmt.Errorf("%w: no passphrase: give --passphrase-file, set MURMUR_PASSPHRASE, or type it", cli.ErrUsage)
		}
		return []byte(strings.TrimRight(line, "\r\n")), nil
	}
	fmt.Fprint(out, "passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(out)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(out, "again: ")
		q, err := term.ReadPassword(fd)
		fmt.Fprintln(out)
		if err != nil {
			return nil, err
		}
		if string(p) != string(q) {
			return nil, fmt.Errorf("%w: the passphrases differ", cli.ErrUsage)
		}
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%w: empty passphrase", cli.ErrUsage)
	}
	return p, nil
}

// Unlock opens a drive's keys: with the key file given, or with the one
// its root keeps; either way with the passphrase.
func Unlock(ctx context.Context, cloud drive.Cloud, pub ed25519.PublicKey, keyFile, passFile string, out io.Writer) (*crypt.Keys, []byte, error) {
	var raw []byte
	var err error
	if keyFile != "" {
		raw, err = os.ReadFile(keyFile)
	} else {
		raw, err = drive.KeyFile(ctx, cloud, pub)
	}
	if err != nil {
		return nil, nil, err
	}
	pass, err := passphrase(passFile, false, out)
	if err != nil {
		return nil, nil, err
	}
	keys, err := UnlockKeyFile(raw, pub, pass)
	return keys, raw, err
}

// UnlockKeyFile opens the key file raw with pass, and checks that it is
// the key of the drive whose public key is pub.
func UnlockKeyFile(raw []byte, pub ed25519.PublicKey, pass []byte) (*crypt.Keys, error) {
	kf, err := crypt.ParseKeyFile(raw)
	if err != nil {
		return nil, err
	}
	mk, err := kf.Unlock(pass)
	if err != nil {
		return nil, fmt.Errorf("cannot unlock the drive: %w", err)
	}
	keys := mk.Keys(kf.Drive)
	if !keys.PublicKey().Equal(pub) {
		return nil, fmt.Errorf("%w: the key file is for another drive (%s)", crypt.ErrKeyFile, kf.Drive)
	}
	return keys, nil
}

// pipelineFor returns the pipeline configuration the daemon's gossip
// chose a code for.
func pipelineFor(ctx context.Context, c *client.Client) pipeline.Config {
	var pc pipeline.Config
	if k, m, err := daemonCode(c)(ctx); err == nil {
		pc.K, pc.M = k, m
	}
	return pc
}

// daemonCode asks the daemon which code to use now.
func daemonCode(c *client.Client) func(ctx context.Context) (int, int, error) {
	return func(ctx context.Context) (int, int, error) {
		st, err := c.Status(ctx)
		if err != nil {
			return 0, 0, err
		}
		if st.Code == nil {
			return 0, 0, errors.New(st.CodeError)
		}
		return st.Code.K, st.Code.M, nil
	}
}

// CreateDrive makes a drive in the cloud and returns its public key.
func CreateDrive(ctx context.Context, cloud drive.Cloud, pass []byte, kdf crypt.KDFParams) (ed25519.PublicKey, []byte, error) {
	mk := crypt.NewMasterKey()
	id := crypt.NewDriveID()
	keys := mk.Keys(id)
	kf, err := crypt.NewKeyFile(id, mk, pass, kdf)
	if err != nil {
		return nil, nil, err
	}
	raw, err := kf.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	err = drive.Create(ctx, drive.Config{Keys: keys, Cloud: cloud, KeyFile: raw, Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	return keys.PublicKey(), raw, err
}

// DriveCommand is `murmur drive create|list`.
func DriveCommand() *cli.Command {
	var dir, name, passFile, keyOut string
	var asJSON bool
	return &cli.Command{
		Name:    "drive",
		Summary: "make a drive, or list the drives this node knows",
		Sub: []*cli.Command{
			{
				Name:    "create",
				Summary: "make a new encrypted drive in the cloud, locked with a passphrase",
				Flags: func(fs *flag.FlagSet) {
					fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder")
					fs.StringVar(&name, "name", "default", "the drive's name on this node")
					fs.StringVar(&passFile, "passphrase-file", "", "read the passphrase from this file (else $MURMUR_PASSPHRASE, else the terminal)")
					fs.StringVar(&keyOut, "key-file", "", "also write the drive's key file here (keep it as a backup)")
				},
				Run: func(ctx context.Context, _ *flag.FlagSet, out io.Writer) error {
					c := client.New(cli.SocketPath(dir))
					pass, err := passphrase(passFile, true, out)
					if err != nil {
						return err
					}
					pub, raw, err := CreateDrive(ctx, c.Drive(), pass, crypt.DefaultKDF())
					if err != nil {
						return err
					}
					if keyOut != "" {
						if err := atomicfile.WriteFile(keyOut, raw, 0o600); err != nil {
							return err
						}
					}
					if err := RememberDrive(dir, name, pub); err != nil {
						return err
					}
					fmt.Fprintf(out, "drive %q made: %x\nmount it: murmur mount DIR\nfrom another node of the cloud: murmur mount --drive %x DIR (with the passphrase)\n", name, []byte(pub), []byte(pub))
					return nil
				},
			},
			{
				Name:    "list",
				Summary: "list the drives this node knows",
				Flags: func(fs *flag.FlagSet) {
					fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder")
					fs.BoolVar(&asJSON, "json", false, "print JSON")
				},
				Run: func(ctx context.Context, _ *flag.FlagSet, out io.Writer) error {
					ds, err := loadDrives(dir)
					if err != nil {
						return err
					}
					if asJSON {
						type js struct {
							Name   string `json:"name"`
							Public string `json:"public_key"`
						}
						list := []js{}
						for _, d := range ds {
							list = append(list, js{d.Name, d.Public})
						}
						return cli.PrintJSON(out, list)
					}
					tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tPUBLIC KEY")
					for _, d := range ds {
						fmt.Fprintf(tw, "%s\t%s\n", d.Name, d.Public)
					}
					return tw.Flush()
				},
			},
		},
	}
}

// openDriveFlags are the flags every command that opens a drive shares.
type openDriveFlags struct {
	dir, drive, keyFile, passFile string
	keys                          *crypt.Keys // the drive's, once open has unlocked it
}

func (f *openDriveFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "dir", cli.DefaultDir(), "the node's folder")
	fs.StringVar(&f.drive, "drive", "", "the drive: a name this node knows, or a public key (default: the node's only drive)")
	fs.StringVar(&f.keyFile, "key-file", "", "unlock with this key file instead of the one the drive's root keeps")
	fs.StringVar(&f.passFile, "passphrase-file", "", "read the passphrase from this file (else $MURMUR_PASSPHRASE, else the terminal)")
}

// open unlocks the drive and opens it with cfg's other fields.
func (f *openDriveFlags) open(ctx context.Context, cfg drive.Config, out io.Writer) (*drive.Drive, *client.Client, string, error) {
	c := client.New(cli.SocketPath(f.dir))
	pub, name, err := ResolveDrive(f.dir, f.drive)
	if err != nil {
		return nil, nil, "", err
	}
	cloud := c.Drive()
	keys, raw, err := Unlock(ctx, cloud, pub, f.keyFile, f.passFile, out)
	if err != nil {
		return nil, nil, "", err
	}
	cfg.Keys, cfg.Cloud, cfg.KeyFile = keys, cloud, raw
	f.keys = keys
	cfg.Pipeline = pipelineFor(ctx, c)
	cfg.Code = daemonCode(c)
	d, err := drive.Open(ctx, cfg)
	if err != nil {
		return nil, nil, "", err
	}
	if err := RememberDrive(f.dir, name, pub); err != nil && !errors.Is(err, cli.ErrUsage) {
		d.Close(ctx)
		return nil, nil, "", err
	}
	return d, c, name, nil
}

// SnapshotCommand is `murmur snapshot list|restore`.
func SnapshotCommand() *cli.Command {
	var f openDriveFlags
	var asJSON bool
	return &cli.Command{
		Name:    "snapshot",
		Summary: "list a drive's snapshots (every commit is one), or restore one",
		Sub: []*cli.Command{
			{
				Name:    "list",
				Summary: "list the drive's snapshots, newest first",
				Flags: func(fs *flag.FlagSet) {
					f.declare(fs)
					fs.BoolVar(&asJSON, "json", false, "print JSON")
				},
				Run: func(ctx context.Context, _ *flag.FlagSet, out io.Writer) error {
					d, _, _, err := f.open(ctx, drive.Config{ReadOnly: true}, out)
					if err != nil {
						return err
					}
					defer d.Close(ctx)
					snaps, err := d.Snapshots(ctx)
					if err != nil {
						return err
					}
					if asJSON {
						return cli.PrintJSON(out, snaps)
					}
					tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SNAPSHOT\tTIME\tPAGES")
					for _, s := range snaps {
						fmt.Fprintf(tw, "%d\t%s\t%d\n", s.Gen, s.Time.Local().Format(time.DateTime), s.Pages)
					}
					return tw.Flush()
				},
			},
			{
				Name:    "restore",
				Args:    "N",
				Summary: "make snapshot N the drive's current tree again (as a new snapshot; nothing is lost)",
				Flags:   f.declare,
				Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
					if fs.NArg() != 1 {
						return fmt.Errorf("%w: murmur snapshot restore N", cli.ErrUsage)
					}
					var gen uint64
					if _, err := fmt.Sscan(fs.Arg(0), &gen); err != nil || gen == 0 {
						return fmt.Errorf("%w: snapshot %q is not a number", cli.ErrUsage, fs.Arg(0))
					}
					state, err := os.MkdirTemp("", "murmur-restore-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(state)
					d, _, _, err := f.open(ctx, drive.Config{StateDir: state}, out)
					if err != nil {
						return err
					}
					if st := d.Status(); !st.Writer {
						d.Close(ctx)
						return fmt.Errorf("cannot restore: %s; unmount the drive's writer first", st.ReadOnlyWhy)
					}
					if err := d.Restore(ctx, gen); err != nil {
						d.Close(ctx)
						return err
					}
					if err := d.Close(ctx); err != nil {
						return err
					}
					fmt.Fprintf(out, "snapshot %d restored as snapshot %d\n", gen, d.Status().Snapshot)
					return nil
				},
			},
		},
	}
}
