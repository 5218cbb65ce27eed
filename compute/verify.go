package compute

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Verification. A task is accepted when Replicas of its runs, on
// distinct peers, agree on a result (Result.Digest) and no other result
// has as many. It starts with Replicas runs; while no result has that
// quorum, each disagreement adds a run, up to MaxRuns, after which the
// task fails. Once a digest wins, its peers
// agreed and every other peer's answer was wrong: both are first-hand
// evidence for gossip.Reputation (Verdicts).
//
// Adaptive replication (BOINC's): a peer whose last Trust results all
// agreed with the accepted majority runs a task alone, except for a
// random SpotCheck share of its tasks, which still get Replicas runs;
// one wrong result costs it all its trust. A lone run of a trusted peer
// is accepted as it is.

// VerifyConfig configures a Verifier.
type VerifyConfig struct {
	Replicas  int     // runs a task starts with; default 2
	MaxRuns   int     // runs a task may take before it fails; default 2·Replicas+1
	Trust     int     // agreeing results after which a peer runs alone; 0: default 10; <0: never
	SpotCheck float64 // share of a trusted peer's tasks still replicated; default 0.1
	Seed      uint64  // of the spot checks
}

func (c VerifyConfig) withDefaults() (VerifyConfig, error) {
	if c.Replicas == 0 {
		c.Replicas = 2
	}
	if c.Replicas < 1 || c.Replicas > 9 {
		return c, fmt.Errorf("compute: %d replicas, want 1 to 9", c.Replicas)
	}
	if c.MaxRuns == 0 {
		c.MaxRuns = 2*c.Replicas + 1
	}
	if c.MaxRuns < c.Replicas {
		return c, fmt.Errorf("compute: at most %d runs for %d replicas", c.MaxRuns, c.Replicas)
	}
	if c.Trust == 0 {
		c.Trust = 10
	}
	if c.SpotCheck == 0 {
		c.SpotCheck = 0.1
	}
	if c.SpotCheck < 0 || c.SpotCheck > 1 {
		return c, fmt.Errorf("compute: spot check share %v not in [0, 1]", c.SpotCheck)
	}
	return c, nil
}

// Verdict is what an accepted task says of one of its runs' peer.
type Verdict struct {
	Peer   string
	Agreed bool
}

// Verifier keeps each peer's record of agreement, across the jobs of one
// owner. It is not safe for concurrent use.
type Verifier struct {
	cfg    VerifyConfig
	rng    *rand.Rand
	streak map[string]int // consecutive agreeing results
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifyConfig) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), streak: map[string]int{}}, nil
}

// Config returns the configuration with its defaults.
func (v *Verifier) Config() VerifyConfig { return v.cfg }

// Trusted reports whether p has earned running alone.
func (v *Verifier) Trusted(p string) bool {
	return v.cfg.Trust > 0 && v.streak[p] >= v.cfg.Trust
}

// Streak returns p's consecutive agreeing results.
func (v *Verifier) Streak(p string) int { return v.streak[p] }

// Start returns the tally of a new task whose first run goes to first:
// one run if first is trusted and this task is not spot-checked, else
// Replicas.
func (v *Verifier) Start(first string) *Tally { return v.StartWith(first, v.cfg.Replicas) }

// StartWith is Start for a job that asks for its own number of replicas
// (1 to 9): it runs each task that many times but for a trusted first
// peer's, and lets a task take at most 2·replicas+1 runs (MaxRuns for
// the configured Replicas).
func (v *Verifier) StartWith(first string, replicas int) *Tally {
	replicas = min(max(replicas, 1), 9)
	maxRuns := 2*replicas + 1
	if replicas == v.cfg.Replicas {
		maxRuns = v.cfg.MaxRuns
	}
	want := replicas
	if replicas > 1 && v.Trusted(first) && v.rng.Float64() >= v.cfg.SpotCheck {
		want = 1
	}
	return &Tally{v: v, want: want, need: want, replicas: replicas, first: first, maxRuns: maxRuns, votes: map[string][32]byte{}}
}

// Tally gathers one task's results.
type Tally struct {
	v        *Verifier
	want     int    // runs asked for so far
	need     int    // agreeing runs that accept: the replicas, or 1 for a trusted peer alone
	replicas int    // the job's
	first    string // whose lone run may be accepted, if trusted
	maxRuns  int
	votes    map[string][32]byte
	order    []string
	accepted bool
	failed   bool
	winner   [32]byte
}

// Want returns how many runs the task needs in all, so far.
func (t *Tally) Want() int { return t.want }

// Runs returns the results in.
func (t *Tally) Runs() int { return len(t.votes) }

// Voted reports whether p has a result in (a task's runs go to distinct
// peers).
func (t *Tally) Voted(p string) bool { _, ok := t.votes[p]; return ok }

// Done reports whether the task is decided: accepted, or failed.
func (t *Tally) Done() (accepted, failed bool) { return t.accepted, t.failed }

// Winner returns the accepted digest.
func (t *Tally) Winner() [32]byte { return t.winner }

// Add records p's result and returns the verdicts, once the task is
// accepted on two or more runs (they also update the peers' records; a
// task accepted on a lone run judges no one). A second result from the
// same peer is ignored.
func (t *Tally) Add(p string, digest [32]byte) []Verdict {
	if t.accepted || t.failed || t.Voted(p) {
		return nil
	}
	if t.need < t.replicas && p != t.first {
		// The trusted peer's run went elsewhere (it was busy, or
		// failed): whoever ran it instead is not trusted for it.
		t.need = t.replicas
		t.want = max(t.want, t.replicas)
	}
	t.votes[p] = digest
	t.order = append(t.order, p)
	if len(t.votes) < t.want {
		return nil
	}
	counts := map[[32]byte]int{}
	best, bestN := [32]byte{}, 0
	for _, d := range t.votes {
		counts[d]++
		if counts[d] > bestN {
			best, bestN = d, counts[d]
		}
	}
	if bestN >= t.need && t.unique(bestN) {
		return t.accept(best)
	}
	// No quorum yet: ask one more run, while runs are left.
	if t.want >= t.maxRuns {
		t.failed = true
		for _, q := range t.order {
			t.v.streak[q] = 0
		}
		return nil
	}
	t.want++
	return nil
}

// unique reports whether exactly one digest has n votes.
func (t *Tally) unique(n int) bool {
	counts := map[[32]byte]int{}
	for _, d := range t.votes {
		counts[d]++
	}
	k := 0
	for _, c := range counts {
		if c == n {
			k++
		}
	}
	return k == 1
}

func (t *Tally) accept(d [32]byte) []Verdict {
	t.accepted, t.winner = true, d
	if len(t.votes) == 1 {
		// A lone run was compared with nothing: it is no evidence, and
		// earns no trust.
		return nil
	}
	out := make([]Verdict, 0, len(t.votes))
	for _, p := range t.order {
		ok := t.votes[p] == d
		if ok {
			t.v.streak[p]++
		} else {
			t.v.streak[p] = 0
		}
		out = append(out, Verdict{Peer: p, Agreed: ok})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}
