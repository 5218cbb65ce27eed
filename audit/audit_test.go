package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// oneStripe returns a 2+1 stripe's record, held by "a", "b" and "c"
// (shard 0, 1, 2), and its shards.
func oneStripe(t *testing.T) (*stripe.Record, [][]byte) {
	t.Helper()
	c, _ := erasure.NewCoder(2, 1)
	data := [][]byte{bytes.Repeat([]byte("a"), 3*proof.LeafSize), bytes.Repeat([]byte("b"), proof.LeafSize+5)}
	d, parity, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	shards := append(data, parity...)
	rec, _ := stripe.New(d, shards)
	set, _ := stripe.NewSet([]stripe.ID{rec.ID()})
	ret, _ := stripe.SignRetention(ed25519.NewKeyFromSeed(make([]byte, 32)), t0, t0.Add(30*24*time.Hour), set)
	rec, err = rec.Cover(ret, set)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range []string{"a", "b", "c"} {
		rec, _ = rec.WithHolders(i, []string{h}, t0)
	}
	return rec, shards
}

func newAuditor(t *testing.T, self string, cfg audit.Config) *audit.Auditor {
	t.Helper()
	cfg.Seed = [32]byte{1}
	a, err := audit.New(self, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// until ticks a until it hands out a batch, and returns it.
func until(t *testing.T, a *audit.Auditor) (audit.Batch, time.Time) {
	t.Helper()
	for range 100 {
		now := a.Next()
		if w := a.Tick(now); len(w.Batches) > 0 {
			return w.Batches[0], now
		}
	}
	t.Fatal("no batch")
	return audit.Batch{}, time.Time{}
}

func TestConfig(t *testing.T) {
	c, err := audit.Config{}.WithDefaults()
	if err != nil || c.Period != 24*time.Hour || c.Auditors != 2 || c.Leaves != 4 || c.Deadline != time.Minute || c.BatchWindow != 3*time.Hour || c.Seed == [32]byte{} {
		t.Fatalf("defaults %+v: %v", c, err)
	}
	for name, bad := range map[string]audit.Config{
		"a deadline of half the period": {Period: time.Hour, Deadline: 30 * time.Minute},
		"jitter above 1":                {Jitter: 1.5},
		"too many leaves":               {Leaves: proof.MaxChallengeLeaves + 1},
		"a negative scrub rate":         {ScrubRate: -1},
	} {
		if _, err := bad.WithDefaults(); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
}

// TestAnswers: what each kind of reply makes of an outstanding challenge.
func TestAnswers(t *testing.T) {
	rec, shards := oneStripe(t)
	a := newAuditor(t, "a", audit.Config{Period: time.Hour, Auditors: 2})
	if err := a.Hold(rec, 0, t0); err != nil {
		t.Fatal(err)
	}
	if a.Targets() != 2 {
		t.Fatalf("%d targets, want b's and c's shards", a.Targets())
	}
	prove := func(ch *proof.Challenge) []byte {
		for i, s := range shards {
			if rec.Descriptor.Shards[i].ID == ch.Shard {
				p, err := proof.Prove(s, ch)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := p.MarshalBinary()
				return b
			}
		}
		t.Fatal("no such shard")
		return nil
	}
	for _, c := range []struct {
		name  string
		reply func(ch *proof.Challenge) audit.Reply
		want  audit.Verdict
		late  bool
	}{
		{"an honest proof", func(ch *proof.Challenge) audit.Reply {
			return audit.Reply{Nonce: ch.Nonce, Held: true, Proof: prove(ch)}
		}, audit.Passed, false},
		{"garbage", func(ch *proof.Challenge) audit.Reply {
			return audit.Reply{Nonce: ch.Nonce, Held: true, Proof: []byte{1, 2, 3}}
		}, audit.Failed, false},
		{"not held", func(ch *proof.Challenge) audit.Reply { return audit.Reply{Nonce: ch.Nonce} }, audit.Missing, false},
		{"an honest proof too late", func(ch *proof.Challenge) audit.Reply {
			return audit.Reply{Nonce: ch.Nonce, Held: true, Proof: prove(ch)}
		}, audit.TimedOut, true},
	} {
		b, now := until(t, a)
		ch := b.Challenges[0]
		if n := len(ch.Leaves); n != min(4, proof.Leaves(sizeOf(rec, ch.Shard))) {
			t.Fatalf("%d leaves asked", n)
		}
		// Replies from another peer, to no challenge, are not evidence.
		other := "b"
		if b.Peer == "b" {
			other = "c"
		}
		if rs := a.Answer(other, []audit.Reply{c.reply(ch)}, now); len(rs) != 0 {
			t.Fatalf("a reply from another peer: %v", rs)
		}
		if rs := a.Answer(b.Peer, []audit.Reply{{Nonce: proof.Nonce{0xee}}}, now); len(rs) != 0 {
			t.Fatalf("a reply to no challenge: %v", rs)
		}
		at := now
		if c.late {
			at = b.Deadline
		}
		rs := a.Answer(b.Peer, []audit.Reply{c.reply(ch)}, at)
		if len(rs) != 1 || rs[0].Verdict != c.want || rs[0].Peer != b.Peer || rs[0].ShardID != ch.Shard || rs[0].Stripe != rec.ID() {
			t.Fatalf("%s: %+v", c.name, rs)
		}
		if again := a.Answer(b.Peer, []audit.Reply{c.reply(ch)}, now); len(again) != 0 {
			t.Fatalf("%s: a second reply counted", c.name)
		}
		for _, ch := range b.Challenges[1:] {
			a.Answer(b.Peer, []audit.Reply{{Nonce: ch.Nonce, Held: true, Proof: prove(ch)}}, now)
		}
		want := map[audit.Verdict]gossip.Outcome{audit.Passed: gossip.AuditPassed, audit.Failed: gossip.AuditFailed, audit.Missing: gossip.AuditFailed, audit.TimedOut: gossip.ProbeUnanswered}[c.want]
		if rs[0].Outcome() != want || rs[0].Repair() != (c.want == audit.Failed || c.want == audit.Missing) {
			t.Fatalf("%s: outcome %v, repair %v", c.name, rs[0].Outcome(), rs[0].Repair())
		}
	}
	// Silence: the deadline's Tick reports it.
	b, _ := until(t, a)
	w := a.Tick(b.Deadline.Add(-time.Nanosecond))
	if len(w.Results) != 0 {
		t.Fatal("timed out before the deadline")
	}
	w = a.Tick(b.Deadline)
	if len(w.Results) != len(b.Challenges) || w.Results[0].Verdict != audit.TimedOut {
		t.Fatalf("at the deadline: %+v", w.Results)
	}
}

func sizeOf(rec *stripe.Record, id erasure.ShardID) int {
	for _, s := range rec.Descriptor.Shards {
		if s.ID == id {
			return s.Size
		}
	}
	return -1
}

// TestTargets: new hints move the audits to the new holder; dropping the
// shard ends them.
func TestTargets(t *testing.T) {
	rec, _ := oneStripe(t)
	a := newAuditor(t, "a", audit.Config{Period: time.Hour, Auditors: 1})
	// a holds shards 0 and 1: it audits shard 1 at b for the one and
	// shard 2 at c for the other.
	for i := range 2 {
		if err := a.Hold(rec, i, t0); err != nil {
			t.Fatal(err)
		}
	}
	peers := func() map[string]bool {
		got := map[string]bool{}
		for i := 0; i < 20; i++ {
			now := a.Next()
			w := a.Tick(now)
			for _, b := range w.Batches {
				got[b.Peer] = true
				for _, ch := range b.Challenges {
					a.Answer(b.Peer, []audit.Reply{{Nonce: ch.Nonce}}, now)
				}
			}
		}
		return got
	}
	if got := peers(); !got["c"] || !got["b"] || len(got) != 2 {
		t.Fatalf("audited %v, want b (shard 1 after a's 0) and c (shard 2 after a's 1)", got)
	}
	moved, _ := rec.WithHolders(2, []string{"d"}, t0.Add(time.Minute))
	a.Update(moved, a.Next())
	if got := peers(); got["c"] || !got["d"] {
		t.Fatalf("after shard 2 moved to d: audited %v", got)
	}
	a.Drop(rec.ID(), 1, a.Next())
	if got := peers(); got["d"] || !got["b"] {
		t.Fatalf("after dropping shard 1: audited %v", got)
	}
	a.Forget(rec.ID(), a.Next())
	if a.Targets() != 0 || !a.Next().IsZero() {
		t.Fatalf("after Forget: %d targets, next %v", a.Targets(), a.Next())
	}
	c, _ := erasure.NewCoder(3, 1)
	d, _, _ := c.Encode([][]byte{[]byte("one")})
	e, _ := stripe.New(d, [][]byte{[]byte("one"), nil, nil, make([]byte, 3)})
	if err := a.Hold(e, 1, t0); err == nil {
		t.Fatal("holding an empty slot")
	}
}

// TestScrubRate: scrubs follow each other no faster than ScrubRate
// allows, each own shard once per ScrubPeriod; a scrub that finds
// corruption or a missing shard goes to repair.
func TestScrubRate(t *testing.T) {
	const size = 1 << 20
	a := newAuditor(t, "self", audit.Config{Period: time.Hour, ScrubPeriod: time.Hour, ScrubRate: size})
	owner := ed25519.NewKeyFromSeed(make([]byte, 32))
	for n := range 20 {
		c, _ := erasure.NewCoder(1, 1)
		data := bytes.Repeat([]byte{byte(n)}, size)
		d, parity, _ := c.Encode([][]byte{data})
		rec, _ := stripe.New(d, [][]byte{data, parity[0]})
		set, _ := stripe.NewSet([]stripe.ID{rec.ID()})
		ret, _ := stripe.SignRetention(owner, t0, t0.Add(24*time.Hour), set)
		rec, _ = rec.Cover(ret, set)
		a.Hold(rec, 0, t0)
	}
	var starts []time.Time
	scrubbed := map[erasure.ShardID]int{}
	var repairs []audit.Result
	for now := a.Next(); now.Before(t0.Add(3 * time.Hour)); now = a.Next() {
		w := a.Tick(now)
		if w.Scrub == nil {
			t.Fatalf("nothing to do at %v", now)
		}
		if w.Scrub.Size != size {
			t.Fatalf("a scrub of %d bytes", w.Scrub.Size)
		}
		starts = append(starts, now)
		v := audit.Passed
		if scrubbed[w.Scrub.Shard]++; len(starts) == 7 {
			v = audit.Failed
		} else if len(starts) == 8 {
			v = audit.Missing
		}
		repairs = append(repairs, a.Scrubbed(w.Scrub.Shard, v, now)...)
	}
	for i := 1; i < len(starts); i++ {
		if g := starts[i].Sub(starts[i-1]); g < time.Second {
			t.Fatalf("scrubs %v apart, the rate allows one a second", g)
		}
	}
	if len(scrubbed) != 20 {
		t.Fatalf("%d shards scrubbed", len(scrubbed))
	}
	for id, n := range scrubbed {
		if n < 3 {
			t.Fatalf("shard %s scrubbed %d times in three periods", id.Short(), n)
		}
	}
	if len(repairs) != 2 || repairs[0].Verdict != audit.Failed || repairs[1].Verdict != audit.Missing || !repairs[0].Scrub || !repairs[0].Repair() || repairs[0].Outcome() != 0 {
		t.Fatalf("repairs %+v", repairs)
	}
	// With a rate too low for what it holds, scrubbing falls behind and
	// says so.
	slow := newAuditor(t, "slow", audit.Config{Period: time.Hour, ScrubPeriod: time.Hour, ScrubRate: 1})
	rec, _ := oneStripe(t)
	for i := range 3 {
		slow.Hold(rec, i, t0)
	}
	for now := slow.Next(); now.Before(t0.Add(2 * time.Hour)); now = slow.Next() {
		if w := slow.Tick(now); w.Scrub != nil {
			slow.Scrubbed(w.Scrub.Shard, audit.Passed, now)
		}
	}
	if lag := slow.ScrubLag(t0.Add(2 * time.Hour)); lag <= 0 {
		t.Fatal("no lag reported")
	}
	if rs := slow.Scrubbed(erasure.ShardID{1}, audit.Failed, t0); rs != nil {
		t.Fatal("a report about a shard not held")
	}
}

// TestRepeatable: one seed, one schedule.
func TestRepeatable(t *testing.T) {
	rec, _ := oneStripe(t)
	run := func() string {
		a := newAuditor(t, "a", audit.Config{Period: time.Hour})
		a.Hold(rec, 0, t0)
		var out string
		for range 10 {
			now := a.Next()
			for _, b := range a.Tick(now).Batches {
				for _, ch := range b.Challenges {
					out += fmt.Sprint(now, b.Peer, ch.Leaves, ch.Nonce)
					a.Answer(b.Peer, []audit.Reply{{Nonce: ch.Nonce}}, now)
				}
			}
		}
		return out
	}
	if first := run(); first == "" || first != run() {
		t.Fatal("the same seed gave two schedules")
	}
}
