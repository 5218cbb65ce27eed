package clientcmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// printRepairs prints the repairs' lines of `murmur status`.
func printRepairs(out io.Writer, r client.RepairStatus) {
	var health []string
	for j, c := range r.Health {
		if c == 0 && j > 0 {
			continue
		}
		if j == 0 {
			health = append(health, fmt.Sprintf("%d whole", c))
		} else {
			health = append(health, fmt.Sprintf("%d missing %d", c, j))
		}
	}
	if r.BelowK > 0 {
		health = append(health, fmt.Sprintf("%d below k", r.BelowK))
	}
	fmt.Fprintf(out, "stripes   %d held or watched: %s; %d of %d peers checked down (%d past their grace)\n",
		r.Stripes, strings.Join(health, ", "), r.Down, r.Peers, r.Lost)
	rate := "no cap"
	if r.Rate > 0 {
		rate = cli.HumanBytes(r.Rate) + "/s"
	}
	fmt.Fprintf(out, "repairs   %d done (%d shards), %d failed, %d aborted; %d running, %d waiting; %s fetched, %s stored (cap %s)\n",
		r.Done, r.Rebuilt, r.Failed, r.Aborted, r.Running, r.Backlog, cli.HumanBytes(r.BytesIn), cli.HumanBytes(r.BytesOut), rate)
}
