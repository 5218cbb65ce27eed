package compute_test

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/murmur-cloud/murmur/compute"
)

func newVerifier(t testing.TB, cfg compute.VerifyConfig) *compute.Verifier {
	t.Helper()
	v, err := compute.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func digestOf(parts ...any) [32]byte { return sha256.Sum256(fmt.Append(nil, parts...)) }

// agree runs one task on peers, all returning the same digest, and
// returns its tally.
func agree(t testing.TB, v *compute.Verifier, peers ...string) *compute.Tally {
	t.Helper()
	ta := v.Start(peers[0])
	d := digestOf("agreed")
	for _, p := range peers {
		ta.Add(p, d)
	}
	if acc, _ := ta.Done(); !acc {
		t.Fatalf("%v agreeing: not accepted (want %d)", peers, ta.Want())
	}
	return ta
}

func TestVerifyConfig(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{})
	if got, want := v.Config(), (compute.VerifyConfig{Replicas: 2, MaxRuns: 5, Trust: 10, SpotCheck: 0.1}); got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	if got := newVerifier(t, compute.VerifyConfig{Replicas: 3}).Config().MaxRuns; got != 7 {
		t.Fatalf("MaxRuns for 3 replicas = %d, want 7", got)
	}
	for _, bad := range []compute.VerifyConfig{
		{Replicas: -1}, {Replicas: 10}, {Replicas: 3, MaxRuns: 2}, {SpotCheck: -0.1}, {SpotCheck: 1.01},
	} {
		if _, err := compute.NewVerifier(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestVerifyTwoAgree(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{})
	ta := v.Start("a")
	if ta.Want() != 2 {
		t.Fatalf("a new peer's task wants %d runs", ta.Want())
	}
	d := digestOf(1)
	if vs := ta.Add("a", d); vs != nil {
		t.Fatalf("verdicts after one run: %v", vs)
	}
	if acc, failed := ta.Done(); acc || failed || !ta.Voted("a") || ta.Voted("b") || ta.Runs() != 1 {
		t.Fatal("decided after one of two runs")
	}
	vs := ta.Add("b", d)
	if want := []compute.Verdict{{"a", true}, {"b", true}}; fmt.Sprint(vs) != fmt.Sprint(want) {
		t.Fatalf("verdicts %v, want %v", vs, want)
	}
	if acc, failed := ta.Done(); !acc || failed || ta.Winner() != d {
		t.Fatal("not accepted")
	}
	if v.Streak("a") != 1 || v.Streak("b") != 1 {
		t.Fatal("streaks not counted")
	}
	if ta.Add("c", digestOf(2)) != nil || ta.Runs() != 2 {
		t.Fatal("a decided task took a vote")
	}
}

func TestVerifyMajority(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{})
	agree(t, v, "b", "c")
	ta := v.Start("a")
	good, bad := digestOf("good"), digestOf("bad")
	ta.Add("a", good)
	if vs := ta.Add("b", bad); vs != nil || ta.Want() != 3 {
		t.Fatalf("a disagreement wants %d runs, verdicts %v", ta.Want(), vs)
	}
	if acc, failed := ta.Done(); acc || failed {
		t.Fatal("decided on a disagreement")
	}
	vs := ta.Add("c", good)
	if want := []compute.Verdict{{"a", true}, {"b", false}, {"c", true}}; fmt.Sprint(vs) != fmt.Sprint(want) {
		t.Fatalf("verdicts %v, want %v", vs, want)
	}
	if ta.Winner() != good {
		t.Fatal("the minority won")
	}
	if v.Streak("b") != 0 || v.Streak("c") != 2 || v.Streak("a") != 1 {
		t.Fatalf("streaks a=%d b=%d c=%d", v.Streak("a"), v.Streak("b"), v.Streak("c"))
	}
}

func TestVerifyAllDifferentFails(t *testing.T) {
	for _, r := range []int{1, 2, 3} {
		v := newVerifier(t, compute.VerifyConfig{Replicas: r, Trust: -1})
		agree(t, v, "p0", "p1", "p2") // streaks to lose
		max := v.Config().MaxRuns
		ta := v.Start("p0")
		if r == 1 {
			// One run decides at once: nothing to disagree with.
			ta.Add("p0", digestOf(0))
			if acc, _ := ta.Done(); !acc || ta.Runs() != 1 {
				t.Fatal("replicas=1 did not accept its run")
			}
			continue
		}
		for i := range max {
			if acc, failed := ta.Done(); acc || failed {
				t.Fatalf("r=%d: decided after %d different runs", r, i)
			}
			ta.Add(fmt.Sprint("p", i), digestOf(i))
		}
		if acc, failed := ta.Done(); acc || !failed || ta.Want() != max || ta.Runs() != max {
			t.Fatalf("r=%d: %d different runs: accepted %v failed %v want %d", r, max, acc, failed, ta.Want())
		}
		for i := range max {
			if s := v.Streak(fmt.Sprint("p", i)); s != 0 {
				t.Fatalf("r=%d: p%d keeps a streak of %d after a failed task", r, i, s)
			}
		}
		if ta.Add("late", digestOf(0)) != nil || ta.Runs() != max {
			t.Fatal("a failed task took a vote")
		}
	}
}

func TestVerifyDuplicateVote(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{})
	ta := v.Start("a")
	ta.Add("a", digestOf(1))
	ta.Add("a", digestOf(1))
	ta.Add("a", digestOf(2))
	if ta.Runs() != 1 || ta.Want() != 2 {
		t.Fatalf("duplicates counted: runs %d want %d", ta.Runs(), ta.Want())
	}
	if acc, _ := ta.Done(); acc {
		t.Fatal("one peer's repeated vote accepted a task")
	}
	ta.Add("b", digestOf(1))
	if acc, _ := ta.Done(); !acc || ta.Winner() != digestOf(1) {
		t.Fatal("its first vote was not the one kept")
	}
}

func TestVerifyOneReplica(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{Replicas: 1})
	for i := range 50 {
		ta := v.Start("a")
		if ta.Want() != 1 {
			t.Fatalf("want %d", ta.Want())
		}
		vs := ta.Add("a", digestOf(i))
		if acc, _ := ta.Done(); !acc || len(vs) != 0 {
			t.Fatalf("not accepted at once, or a lone run judged: %v", vs)
		}
	}
	if v.Trusted("a") {
		t.Fatal("a peer is trusted with nothing to be trusted for")
	}
}

// TestVerifyTrust: after Trust agreeing results a peer runs alone, but
// for a SpotCheck share of its tasks; one wrong result costs it its
// trust.
func TestVerifyTrust(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{Trust: 3, Seed: 42})
	for i := range 3 {
		if v.Trusted("a") {
			t.Fatalf("trusted after %d", i)
		}
		if w := v.Start("a").Want(); w != 2 {
			t.Fatalf("an untrusted peer's task wants %d", w)
		}
		agree(t, v, "a", fmt.Sprint("h", i))
	}
	if !v.Trusted("a") || v.Streak("a") != 3 {
		t.Fatal("not trusted after 3")
	}
	const n = 10000
	checked := 0
	for i := range n {
		ta := v.Start("a")
		switch ta.Want() {
		case 1:
			ta.Add("a", digestOf(i))
			if acc, _ := ta.Done(); !acc {
				t.Fatal("a trusted lone run was not accepted")
			}
		case 2:
			checked++
			ta.Add("a", digestOf(i))
			ta.Add("h0", digestOf(i))
		default:
			t.Fatalf("want %d", ta.Want())
		}
	}
	share, sd := float64(checked)/n, math.Sqrt(0.1*0.9/n)
	t.Logf("spot-checked %d of %d (%.3f)", checked, n, share)
	if math.Abs(share-0.1) > 5*sd {
		t.Fatalf("spot-checked %.4f of tasks, want 0.1±%.4f", share, 5*sd)
	}
	// One wrong answer on a spot check: no trust left.
	for {
		ta := v.Start("a")
		if ta.Want() == 1 {
			ta.Add("a", digestOf("lone"))
			continue
		}
		ta.Add("a", digestOf("wrong"))
		ta.Add("h0", digestOf("right"))
		ta.Add("h1", digestOf("right"))
		if acc, _ := ta.Done(); !acc || ta.Winner() != digestOf("right") {
			t.Fatal("the majority did not win")
		}
		break
	}
	if v.Trusted("a") || v.Streak("a") != 0 {
		t.Fatal("trusted after a wrong result")
	}
	for range 100 {
		if v.Start("a").Want() != 2 {
			t.Fatal("a distrusted peer runs alone")
		}
	}
	// Trust < 0: never.
	never := newVerifier(t, compute.VerifyConfig{Trust: -1})
	for i := range 30 {
		agree(t, never, "a", fmt.Sprint("h", i))
	}
	if never.Trusted("a") || never.Start("a").Want() != 2 {
		t.Fatal("Trust<0 trusted a peer")
	}
	// SpotCheck 1: every task replicated.
	always := newVerifier(t, compute.VerifyConfig{Trust: 1, SpotCheck: 1})
	agree(t, always, "a", "b")
	for range 100 {
		if always.Start("a").Want() != 2 {
			t.Fatal("SpotCheck=1 let a peer run alone")
		}
	}
}

// TestVerifyLoneRunOfAnother: a tally that wants one run because its first
// peer is trusted must not accept a lone run of another, untrusted, peer
// (the scheduler sends the run elsewhere when the trusted peer is busy or
// fails).
func TestVerifyLoneRunOfAnother(t *testing.T) {
	v := newVerifier(t, compute.VerifyConfig{Trust: 1})
	agree(t, v, "trusted", "x")
	for {
		ta := v.Start("trusted")
		if ta.Want() != 1 {
			continue
		}
		ta.Add("stranger", digestOf("forged"))
		if acc, _ := ta.Done(); acc {
			t.Fatal("an untrusted peer's lone result was accepted")
		}
		return
	}
}

// TestVerifyModel runs thousands of tasks over simulated peers, some of
// them liars, and checks what the protocol guarantees.
func TestVerifyModel(t *testing.T) {
	for _, c := range []struct {
		name    string
		peers   int
		liars   int
		lie     float64 // a liar's chance of lying on one run
		collude bool    // liars all return the same wrong digest
	}{
		{"honest", 40, 0, 0, false},
		{"liars", 40, 8, 0.3, false},
		{"always-lying", 40, 8, 1, false},
		{"colluding", 40, 8, 0.5, true},
		{"colluding-majority", 10, 6, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(c.name))))
			v := newVerifier(t, compute.VerifyConfig{Seed: 3})
			cfg := v.Config()
			peers := make([]string, c.peers)
			liar := map[string]bool{}
			for i := range peers {
				peers[i] = fmt.Sprintf("p%02d", i)
				liar[peers[i]] = i < c.liars
			}
			const tasks = 5000
			runs := make([]int, tasks)
			wrong, wrongLone, failed := 0, 0, 0
			for task := range tasks {
				right := digestOf("task", task)
				answer := func(p string, k int) [32]byte {
					if !liar[p] || rng.Float64() >= c.lie {
						return right
					}
					if c.collude {
						return digestOf("collude", task)
					}
					return digestOf("lie", task, p, k)
				}
				order := rng.Perm(len(peers))
				first := peers[order[0]]
				trusted := v.Trusted(first)
				before := map[string]int{}
				for _, p := range peers {
					before[p] = v.Streak(p)
				}
				ta := v.Start(first)
				if ta.Want() == 1 && !trusted {
					t.Fatalf("task %d: an untrusted peer runs alone", task)
				}
				votes := map[string][32]byte{}
				var verdicts []compute.Verdict
				for k := 0; ; k++ {
					if acc, f := ta.Done(); acc || f {
						break
					}
					if ta.Runs() >= ta.Want() {
						t.Fatalf("task %d: undecided with %d of %d runs in", task, ta.Runs(), ta.Want())
					}
					p := peers[order[k]]
					if ta.Voted(p) {
						t.Fatalf("task %d: %s voted before its run", task, p)
					}
					votes[p] = answer(p, k)
					if vs := ta.Add(p, votes[p]); vs != nil {
						verdicts = vs
					}
					if ta.Runs() != len(votes) {
						t.Fatalf("task %d: %d runs counted, %d in", task, ta.Runs(), len(votes))
					}
				}
				runs[task] = ta.Runs()
				acc, f := ta.Done()
				if acc == f {
					t.Fatalf("task %d: accepted %v, failed %v", task, acc, f)
				}
				if ta.Runs() != ta.Want() || ta.Want() > cfg.MaxRuns {
					t.Fatalf("task %d: decided with %d runs of %d wanted (max %d)", task, ta.Runs(), ta.Want(), cfg.MaxRuns)
				}
				counts := map[[32]byte]int{}
				for _, d := range votes {
					counts[d]++
				}
				if f {
					failed++
					if ta.Runs() != cfg.MaxRuns {
						t.Fatalf("task %d failed after %d runs, before %d", task, ta.Runs(), cfg.MaxRuns)
					}
					if d, n := top(counts); n >= cfg.Replicas && unique(counts, n) {
						t.Fatalf("task %d failed with a quorum for %x", task, d[:4])
					}
					for p := range votes {
						if v.Streak(p) != 0 {
							t.Fatalf("task %d failed but %s keeps its streak", task, p)
						}
					}
					continue
				}
				// Accepted: by a quorum (Replicas agreeing runs, or a
				// trusted peer alone) that no other result matches.
				win := ta.Winner()
				if _, n := top(counts); counts[win] != n || !unique(counts, n) || (len(votes) > 1 && n < cfg.Replicas) {
					t.Fatalf("task %d: accepted %d of %d votes", task, counts[win], ta.Runs())
				}
				if len(votes) == 1 {
					if len(verdicts) != 0 {
						t.Fatalf("task %d: a lone run judged", task)
					}
				} else if len(verdicts) != len(votes) {
					t.Fatalf("task %d: %d verdicts for %d votes", task, len(verdicts), len(votes))
				}
				for _, vd := range verdicts {
					if vd.Agreed != (votes[vd.Peer] == win) {
						t.Fatalf("task %d: verdict %v", task, vd)
					}
					switch want := before[vd.Peer] + 1; {
					case vd.Agreed && v.Streak(vd.Peer) != want:
						t.Fatalf("task %d: %s's streak %d, want %d", task, vd.Peer, v.Streak(vd.Peer), want)
					case !vd.Agreed && v.Streak(vd.Peer) != 0:
						t.Fatalf("task %d: outvoted %s keeps a streak of %d", task, vd.Peer, v.Streak(vd.Peer))
					}
				}
				if win != right {
					wrong++
					liarsFor := 0
					for p, d := range votes {
						if liar[p] && d == win {
							liarsFor++
						}
					}
					switch {
					case ta.Runs() == 1:
						// A lone run: only a trusted peer's.
						wrongLone++
						if !trusted {
							t.Fatalf("task %d: an untrusted peer's lone lie accepted", task)
						}
					case !c.collude:
						// Distinct lies never make a majority of two or more.
						t.Fatalf("task %d: a wrong result accepted from %d replicas without collusion", task, ta.Runs())
					case 2*liarsFor <= ta.Runs():
						t.Fatalf("task %d: a wrong result accepted without a majority of liars", task)
					}
				}
			}
			mean := func(xs []int) float64 {
				s := 0
				for _, x := range xs {
					s += x
				}
				return float64(s) / float64(len(xs))
			}
			early, late := mean(runs[:1000]), mean(runs[tasks-1000:])
			t.Logf("%d peers, %d liars (p=%.1f, collude %v): runs per task %.3f in the first 1000 tasks, %.3f in the last 1000; %d wrong accepted (%d lone), %d failed",
				c.peers, c.liars, c.lie, c.collude, early, late, wrong, wrongLone, failed)
			if c.liars == 0 {
				if wrong != 0 || failed != 0 {
					t.Fatal("honest peers gave a wrong or failed task")
				}
				// Steady state: a share SpotCheck of the tasks replicated.
				if steady := 1 + cfg.SpotCheck*float64(cfg.Replicas-1); late >= early || math.Abs(late-steady) > 0.05 {
					t.Fatalf("overhead %.3f → %.3f, want it to fall to about %.2f", early, late, steady)
				}
			}
		})
	}
}

// top returns the digest with the most votes and its count.
func top(counts map[[32]byte]int) ([32]byte, int) {
	var best [32]byte
	n := 0
	for d, c := range counts {
		if c > n {
			best, n = d, c
		}
	}
	return best, n
}

// unique reports whether exactly one digest has n votes.
func unique(counts map[[32]byte]int, n int) bool {
	k := 0
	for _, c := range counts {
		if c == n {
			k++
		}
	}
	return k == 1
}
