package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/mount"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
	"github.com/murmur-cloud/murmur/metrics"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/repair"
)

// repairRateOf is the repair rate flag as node.RepairConfig.Rate: 0 is no
// cap there, negative.
func repairRateOf(s cli.Size) int64 {
	if s == 0 {
		return -1
	}
	return int64(s)
}

func initCommand() *cli.Command {
	var dir, listen string
	capacity := cli.Size(0)
	return &cli.Command{
		Name:    "init",
		Summary: "make a node on this machine (identity, data folder, config)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder")
			fs.StringVar(&listen, "listen", "/ip4/0.0.0.0/tcp/4001", "multiaddrs to listen on, comma-separated (TCP: the private network excludes QUIC)")
			fs.Var(&capacity, "capacity", "bytes this node stores for others (0: no quota)")
		},
		Run: func(_ context.Context, _ *flag.FlagSet, out io.Writer) error {
			id, err := node.Init(dir, node.Setup{Listen: splitList(listen), Capacity: int64(capacity)})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "node %s made in %s\nnext: 'murmur cloud create' to start a cloud, or 'murmur node --join INVITE' to join one\n", id, dir)
			return nil
		},
	}
}

func cloudCommand() *cli.Command {
	var dir string
	dirFlag := func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder") }
	return &cli.Command{
		Name:    "cloud",
		Summary: "create a cloud, or print an invite to this node's cloud",
		Sub: []*cli.Command{
			{
				Name:    "create",
				Summary: "make a new cloud secret for this node and print an invite",
				Flags:   dirFlag,
				Run: func(_ context.Context, _ *flag.FlagSet, out io.Writer) error {
					if _, err := node.CreateCloud(dir); err != nil {
						return err
					}
					return printInvite(out, dir)
				},
			},
			{
				Name:    "invite",
				Summary: "print an invite to this node's cloud (it carries the cloud secret)",
				Flags:   dirFlag,
				Run: func(_ context.Context, _ *flag.FlagSet, out io.Writer) error {
					return printInvite(out, dir)
				},
			},
		},
	}
}

func printInvite(out io.Writer, dir string) error {
	in, err := node.InviteFor(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n\nOn another machine: murmur init, then paste the invite into: murmur node --join -\n(or save it in a file: murmur node --join-file FILE; or set %s).\nThe invite carries the cloud's secret: give it only to machines you trust.\n", in, inviteEnv)
	return nil
}

func nodeCommand() *cli.Command {
	var dir, join, joinFile, addrFile, zone, dashAddr, reach, metricsAddr string
	var verbose, noMDNS, noNAT bool
	var period, checkPeriod, grace, claimTTL time.Duration
	var target float64
	var computeSlots int
	repairRate := cli.Size(repair.DefaultBandwidth)
	computeMemory := cli.Size(0)
	return &cli.Command{
		Name:    "node",
		Summary: "run this machine's node until interrupted",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", cli.DefaultDir(), "the node's folder")
			fs.StringVar(&join, "join", "", "an invite: join its cloud and bootstrap from its members (- reads it from standard input; $"+inviteEnv+" is read when no --join is given)")
			fs.StringVar(&joinFile, "join-file", "", "read the invite from this file (keeps it out of the process list)")
			fs.StringVar(&addrFile, "addr-file", "", "write the node's addresses to this file once it listens")
			fs.BoolVar(&verbose, "v", false, "log debug messages")
			fs.BoolVar(&noMDNS, "no-mdns", false, "do not look for members on the LAN with mDNS")
			fs.BoolVar(&noNAT, "no-nat", false, "no NAT traversal: no relays, AutoNAT or hole punching")
			fs.StringVar(&reach, "reachability", "", "force the reachability AutoNAT would find: public (runs a relay for the cloud) or private (reserves one)")
			fs.StringVar(&zone, "zone", "", "this machine's failure zone, e.g. office or home: stripes spread over zones first")
			fs.DurationVar(&period, "gossip-period", node.DefaultGossipPeriod, "how often the node gossips")
			fs.Var(&repairRate, "repair-rate", "bytes a second this node's repairs may move, fetched and stored (0: no cap)")
			fs.Float64Var(&target, "target", placement.DefaultTarget, "wanted probability that a stripe stays readable; sets k and m for new files")
			fs.DurationVar(&checkPeriod, "repair-check-period", repair.DefaultCheckPeriod, "how often the holders of this node's stripes are checked")
			fs.DurationVar(&grace, "repair-grace", 0, "if set, every holder's grace: how long it may be away before its shards are rebuilt (0: from its outage history, 1h to 72h)")
			fs.DurationVar(&claimTTL, "repair-claim-ttl", repair.DefaultClaimTTL, "a repair claim's lease; the next repairer in rank waits half of it")
			computeFlags(fs, &computeSlots, &computeMemory, 0)
			dashboardFlag(fs, &dashAddr)
			metricsFlag(fs, &metricsAddr)
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, out io.Writer) error {
			if err := checkCompute(computeSlots); err != nil {
				return err
			}
			invite, err := inviteText(join, joinFile, os.Stdin, os.Getenv, os.Stderr)
			if err != nil {
				return err
			}
			if invite != "" {
				in, err := node.ParseInvite(invite)
				if err != nil {
					return err
				}
				if err := node.Join(dir, in); err != nil {
					return err
				}
			}
			log := cli.NewLogger(slog.LevelInfo, verbose)
			cfg := node.Config{Logger: log, MDNS: !noMDNS, NoNAT: noNAT, Reachability: reach, Zone: zone, GossipPeriod: period, Repair: repairConfig(repairRate, checkPeriod, grace, claimTTL),
				ComputeSlots: computeSlots, ComputeMemory: int64(computeMemory)}
			reg := newMetrics(metricsAddr)
			if reg != nil {
				cfg.Registerer, cfg.OnRequest = reg.Registerer(), reg.Requests(0)
			}
			n, err := node.Open(dir, cfg)
			if err != nil {
				return err
			}
			defer n.Close()
			setup, err := node.LoadSetup(dir)
			if err != nil {
				return err
			}
			n.Bootstrap(ctx, setup.Bootstrap)
			var addrs []string
			for _, a := range n.Addrs() {
				addrs = append(addrs, a.String())
			}
			srv, err := daemon.NewServer(n, dir, log)
			if err != nil {
				return err
			}
			if err := srv.SetTarget(target); err != nil {
				return fmt.Errorf("%w: --target: %v", cli.ErrUsage, err)
			}
			stopCompute, err := srv.StartCompute(ctx)
			if err != nil {
				return err
			}
			defer stopCompute()
			// The backups scheduled on this node (murmur backup schedule).
			go func() {
				if err := clientcmd.RunScheduledBackups(ctx, dir, srv.Drive(), nodeCode(n, target), log); err != nil {
					log.Error("scheduled backups", "err", err)
				}
			}()
			dashURL, err := startDashboard(ctx, srv, dir, dashAddr)
			if err != nil {
				return err
			}
			if reg != nil {
				reg.Set(0, daemonMetrics(srv, dir))
			}
			metricsURL, err := startMetrics(ctx, reg, metricsAddr, log)
			if err != nil {
				return err
			}
			// The addresses are announced once the API answers too, so that
			// whoever waits for them can ask the node at once.
			return srv.ServeReady(ctx, cli.SocketPath(dir), func() error {
				if addrFile != "" {
					if err := os.WriteFile(addrFile, []byte(strings.Join(addrs, "\n")+"\n"), 0o600); err != nil {
						return err
					}
				}
				fmt.Fprintf(out, "node %s running; listening on\n  %s\nlocal API on %s; Ctrl-C stops it.\n", n.ID(), strings.Join(addrs, "\n  "), cli.SocketPath(dir))
				if dashURL != "" {
					// Without its token: a service's output goes to logs
					// that others may read.
					fmt.Fprintf(out, "web dashboard on %s; murmur dashboard prints its URL with the token.\n", strings.SplitN(dashURL, "?", 2)[0])
				}
				if metricsURL != "" {
					fmt.Fprintf(out, "metrics on %s\n", metricsURL)
				}
				return nil
			})
		},
	}
}

// computeFlags declares the compute flags of murmur node and murmur up.
func computeFlags(fs *flag.FlagSet, slots *int, memory *cli.Size, defSlots int) {
	fs.IntVar(slots, "compute-slots", defSlots, "compute jobs this node offers to run at once, gossiped to the cloud (0: none)")
	fs.Var(memory, "compute-memory", "memory one compute job may take, e.g. 512MiB (0: "+cli.FormatSize(node.DefaultComputeMemory)+")")
}

// checkCompute refuses a --compute-slots no node takes (a size is never
// negative).
func checkCompute(slots int) error {
	if slots < 0 || slots > node.MaxComputeSlots {
		return fmt.Errorf("%w: --compute-slots %d: want 0 to %d", cli.ErrUsage, slots, node.MaxComputeSlots)
	}
	return nil
}

// repairConfig is the repair flags of murmur node as a node.RepairConfig.
// A grace given fixes every peer's grace, whatever its outage history.
func repairConfig(rate cli.Size, checkPeriod, grace, claimTTL time.Duration) node.RepairConfig {
	c := node.RepairConfig{Rate: repairRateOf(rate)}
	c.Machine.CheckPeriod = checkPeriod
	c.Machine.ClaimTTL = claimTTL
	if grace > 0 {
		c.Machine.Grace = repair.GraceConfig{Min: grace, Default: grace, Max: grace}
	}
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// upComputeSlots is the compute slots each node of murmur up offers by
// default, so that a local cloud can run jobs.
const upComputeSlots = 2

func upCommand() *cli.Command {
	var dir, dashAddr, metricsAddr string
	var nodes int
	var verbose, noMount, allowOther, nonempty bool
	var target float64
	var computeSlots int
	computeMemory := cli.Size(0)
	return &cli.Command{
		Name:    "up",
		Args:    "[MOUNTPOINT]",
		Summary: "run a small cloud of several nodes in this process, on loopback, with its drive mounted at ./cloud",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", cli.DefaultDir(), "folder for the cloud (its nodes live in DIR/up) and its API socket")
			fs.IntVar(&nodes, "nodes", 6, "how many nodes")
			fs.BoolVar(&verbose, "v", false, "log debug messages")
			fs.Float64Var(&target, "target", placement.DefaultTarget, "wanted probability that a stripe stays readable; sets k and m for new files")
			fs.BoolVar(&noMount, "no-mount", false, "do not mount the cloud's drive")
			fs.BoolVar(&allowOther, "allow-other", false, "let other local users use the mount (permissions still apply)")
			fs.BoolVar(&nonempty, "nonempty", false, clientcmd.NonemptyUsage)
			computeFlags(fs, &computeSlots, &computeMemory, upComputeSlots)
			dashboardFlag(fs, &dashAddr)
			metricsFlag(fs, &metricsAddr)
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, out io.Writer) error {
			if fl.NArg() > 1 {
				return fmt.Errorf("%w: murmur up [MOUNTPOINT]", cli.ErrUsage)
			}
			if err := checkCompute(computeSlots); err != nil {
				return err
			}
			mountpoint := "cloud"
			if fl.NArg() == 1 {
				mountpoint = fl.Arg(0)
			}
			mountpoint, err := filepath.Abs(mountpoint)
			if err != nil {
				return err
			}
			if !noMount {
				if err := clientcmd.CheckFUSE(); err != nil {
					return fmt.Errorf("%v (or run murmur up --no-mount)", err)
				}
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(memoryLimit)
			}
			log := cli.NewLogger(slog.LevelWarn, verbose)
			if !noMount {
				if err := clientcmd.PrepareMountpoint(mountpoint, nonempty, log); err != nil {
					return err
				}
			}
			home := filepath.Join(dir, "up")
			lc := node.LocalConfig{Dir: home, Nodes: nodes, Logger: log, ComputeSlots: computeSlots, ComputeMemory: int64(computeMemory)}
			// One registry for the cloud: each node's series carry its
			// index as the node label; libp2p's are the hosts' summed.
			reg := newMetrics(metricsAddr)
			if reg != nil {
				lc.Configure = func(i int, c *node.Config) { c.Registerer, c.OnRequest = reg.Registerer(), reg.Requests(i) }
			}
			l, err := node.StartLocal(ctx, lc)
			if err != nil {
				return err
			}
			defer l.Close()
			srv, err := daemon.NewServer(l.Nodes[0], home, log)
			if err != nil {
				return err
			}
			if err := srv.SetTarget(target); err != nil {
				return fmt.Errorf("%w: --target: %v", cli.ErrUsage, err)
			}
			stopCompute, err := srv.StartCompute(ctx)
			if err != nil {
				return err
			}
			defer stopCompute()
			for _, n := range l.Nodes[1:] {
				stop, err := daemon.StartWorker(ctx, n, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			// The backups scheduled on this node (murmur backup schedule).
			go func() {
				if err := clientcmd.RunScheduledBackups(ctx, dir, srv.Drive(), nodeCode(l.Nodes[0], target), log); err != nil {
					log.Error("scheduled backups", "err", err)
				}
			}()
			dashURL, err := startDashboard(ctx, srv, dir, dashAddr)
			if err != nil {
				return err
			}
			if reg != nil {
				reg.Set(0, daemonMetrics(srv, dir))
				for i, n := range l.Nodes[1:] {
					reg.Set(i+1, metrics.SourceFunc(func(context.Context) *metrics.Figures { return daemon.NodeFigures(n) }))
				}
			}
			metricsURL, err := startMetrics(ctx, reg, metricsAddr, log)
			if err != nil {
				return err
			}
			sock := cli.SocketPath(dir)
			mountDone := make(chan error, 1)
			mctx, stopMount := context.WithCancel(ctx)
			defer stopMount()
			if noMount {
				mountDone <- nil
			} else {
				d, err := upDrive(ctx, dir, home, l, target, log)
				if err != nil {
					return err
				}
				go func() {
					mountDone <- clientcmd.ServeDrive(mctx, d, mountpoint, "up", clientcmd.StatusSocket(dir, "up"), mount.Options{AllowOther: allowOther, Logger: log}, out)
				}()
			}
			fmt.Fprintf(out, `A cloud of %d nodes is running in %s (cloud %s).

Try, from another terminal:
  murmur put FILE       store a file; prints its ID
  murmur ls             list stored files
  murmur get ID OUT     fetch a file
  murmur status         this cloud's first node, and its mounted drive
  murmur peers          its peers
(add --dir %s if you gave murmur up a --dir)

Ctrl-C unmounts the drive (uploading what is pending) and stops the cloud;
running murmur up again resumes both with their data.
`, len(l.Nodes), home, l.Secret.CloudID(), dir)
			if dashURL != "" {
				fmt.Fprintf(out, "\nDashboard (murmur dashboard prints it again): %s\n", dashURL)
			}
			if metricsURL != "" {
				fmt.Fprintf(out, "Metrics: %s\n", metricsURL)
			}
			serveErr := srv.Serve(ctx, sock)
			stopMount() // the API stopped, or never started: unmount too
			var mountErr error
			if err := <-mountDone; err != nil {
				mountErr = fmt.Errorf("the drive did not close cleanly: %w", err)
			}
			if serveErr != nil {
				return errors.Join(serveErr, mountErr)
			}
			fmt.Fprintln(out, "stopping the cloud")
			return mountErr
		},
	}
}

// upDrive opens the drive of murmur up's cloud, making it the first time:
// its passphrase is random and kept, readable by the owner only, in
// home/drive.passphrase, so that `murmur mount --dir DIR` with
// MURMUR_PASSPHRASE set to it mounts the same drive from elsewhere.
func upDrive(ctx context.Context, dir, home string, l *node.Local, target float64, log *slog.Logger) (*drive.Drive, error) {
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return nil, err
	}
	cloud := daemon.NewDriveCloud(l.Nodes[0], l.Nodes[0].Cloud(placer))
	passFile := filepath.Join(home, "drive.passphrase")
	pass, err := os.ReadFile(passFile)
	_, _, known := clientcmd.ResolveDrive(dir, "up")
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && known != nil:
		// No drive yet, or one whose making was cut short before it was
		// remembered: make one. The passphrase is saved first, so a drive
		// never exists without it.
		if pass == nil {
			pass = []byte(rand.Text())
			if err := atomicfile.WriteFile(passFile, pass, 0o600); err != nil {
				return nil, err
			}
		}
		pub, _, err := clientcmd.CreateDrive(ctx, cloud, pass, crypt.DefaultKDF())
		if err != nil {
			return nil, fmt.Errorf("make the cloud's drive: %w", err)
		}
		if err := clientcmd.RememberDrive(dir, "up", pub); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	pub, _, err := clientcmd.ResolveDrive(dir, "up")
	if err != nil {
		return nil, err
	}
	keys, raw, err := clientcmd.Unlock(ctx, cloud, pub, "", passFile, io.Discard)
	if err != nil {
		return nil, err
	}
	return drive.Open(ctx, drive.Config{
		Keys: keys, Cloud: cloud, KeyFile: raw, StateDir: filepath.Join(clientcmd.MountsDir(dir), "up"), Logger: log,
		Code: nodeCode(l.Nodes[0], target),
	})
}

// nodeCode chooses a drive's code from what node n's gossip knows.
func nodeCode(n *node.Node, target float64) func(ctx context.Context) (int, int, error) {
	return func(context.Context) (int, int, error) {
		c, err := placement.ChooseCode(n.CodeParams(target))
		return c.K, c.M, err
	}
}
