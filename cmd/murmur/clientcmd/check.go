package clientcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mr-tron/base58"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// share is a flag for a share of something: "10%" or "0.1".
type share float64

func (s *share) String() string { return strconv.FormatFloat(float64(*s)*100, 'g', -1, 64) + "%" }

func (s *share) Set(v string) error {
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return fmt.Errorf("not a share: %q (say 10%% or 0.1)", v)
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return fmt.Errorf("%q is not between 0 and 100%%", v)
	}
	*s = share(f)
	return nil
}

// CheckCommand is `murmur check`.
func CheckCommand() *cli.Command {
	var (
		f      setFlags
		data   share
		seed   uint64
		asJSON bool
	)
	return &cli.Command{
		Name:    "check",
		Summary: "check a backup set: read every kept snapshot's tree, and fetch and verify a share of the data's shards (needs the admin key)",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.Var(&data, "read-data-subset", "also fetch every shard of this share of the stripes in use and check it against its ID (10%, or 0.1; 100% reads all)")
			fs.Uint64Var(&seed, "seed", 0, "which stripes --read-data-subset picks (default: a new choice each time)")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, w io.Writer) error {
			if fl.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fl.Arg(0))
			}
			if seed == 0 {
				seed = uint64(time.Now().UnixNano())
			}
			c, keys, _, err := f.open(ctx, w)
			if err != nil {
				return err
			}
			st, err := backup.Check(ctx, c.Drive(), keys, backup.CheckOptions{ReadData: float64(data), Seed: seed})
			if st == nil {
				return err
			}
			type bad struct {
				Shard  string `json:"shard"`
				Holder string `json:"holder,omitempty"`
				Error  string `json:"error"`
			}
			var bads []bad
			for _, b := range st.Bad {
				bads = append(bads, bad{b.ID.String(), holderName(string(b.Holder)), b.Err.Error()})
			}
			if asJSON {
				if jerr := cli.PrintJSON(w, map[string]any{"snapshots": st.Snapshots, "stripes": st.Stripes, "missing_stripes": st.Missing,
					"stripes_read": st.Read, "shards_read": st.Shards, "bad_shards": bads, "seed": seed}); jerr != nil {
					return jerr
				}
			} else {
				fmt.Fprintf(w, "%d snapshots, their trees read; %d stripes in use, %d no longer stored\n", st.Snapshots, st.Stripes, st.Missing)
				if st.Read > 0 {
					fmt.Fprintf(w, "%d stripes read (seed %d): %d shards, %d bad\n", st.Read, seed, st.Shards, len(st.Bad))
				}
				for _, b := range bads {
					fmt.Fprintf(w, "  bad shard %s at %s: %s\n", b.Shard, b.Holder, b.Error)
				}
			}
			return err
		},
	}
}

// holderName is a holder as peers print it: its peer ID in base58, as
// libp2p writes peer IDs.
func holderName(h string) string {
	if h == "" {
		return "(holder unknown)"
	}
	return base58.Encode([]byte(h))
}
