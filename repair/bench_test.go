package repair_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// benchHistory: every peer 0.8 available, outages of a day at the quantile.
type benchHistory struct{}

func (benchHistory) Availability(uint32, time.Time) (float64, float64) { return 0.8, 100 }
func (benchHistory) OutageQuantile(uint32, float64) (time.Duration, int) {
	return 24 * time.Hour, 30
}

// benchMachine is member 0's Machine in a cloud of peers members, holding
// slot 0 of stripes stripes of k=8, m=9 whose other holders are random.
func benchMachine(b *testing.B, mode repair.Mode, peers, stripes int) (*repair.Machine[uint32], []repair.Stripe[uint32], time.Time) {
	keys := make([]repair.Key, peers)
	for i := range keys {
		keys[i] = sha256.Sum256(binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := repair.New(repair.Config[uint32]{Self: 0, KeyOf: func(p uint32) repair.Key { return keys[p] }, History: benchHistory{}, Mode: mode, Sign: signer(0), Verify: verify}, now)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]repair.Stripe[uint32], stripes)
	for i := range recs {
		holders := []uint32{0}
		for len(holders) < 17 {
			if p := uint32(1 + rng.IntN(peers-1)); !contains(holders, p) {
				holders = append(holders, p)
			}
		}
		recs[i] = repair.Stripe[uint32]{ID: repair.StripeID(sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))), K: 8, M: 9, ShardSize: 1 << 20, Holders: holders}
		if err := m.Hold(recs[i], now); err != nil {
			b.Fatal(err)
		}
	}
	m.Drain()
	return m, recs, now
}

func contains(s []uint32, p uint32) bool {
	for _, q := range s {
		if q == p {
			return true
		}
	}
	return false
}

// BenchmarkChecked: a lazy Machine of 170 stripes (a member's share of
// 100,000 stripes over 10,000 members) told of a peer's outage and return,
// the simulator's commonest call. Per op: one outage and one return.
func BenchmarkChecked(b *testing.B) {
	m, _, now := benchMachine(b, repair.Lazy, 10000, 170)
	peers := make([]uint32, 0, 2500)
	for p := uint32(1); p < 10000 && len(peers) < 2500; p++ {
		peers = append(peers, p)
	}
	i := 0
	for b.Loop() {
		p := peers[i%len(peers)]
		i++
		now = now.Add(time.Second)
		m.Checked(p, false, now)
		m.Checked(p, true, now.Add(time.Minute))
		if i%1024 == 0 {
			m.Tick(now)
			m.Drain()
		}
	}
}

// BenchmarkHold: the same Machine given the next version of one of its
// records, one holder replaced (what every holder does at each committed
// repair).
func BenchmarkHold(b *testing.B) {
	m, recs, now := benchMachine(b, repair.Lazy, 10000, 170)
	rng := rand.New(rand.NewPCG(3, 4))
	i := 0
	for b.Loop() {
		r := &recs[i%len(recs)]
		i++
		next := *r
		next.Holders = append([]uint32(nil), r.Holders...)
		for {
			if p := uint32(1 + rng.IntN(9999)); !contains(next.Holders, p) {
				next.Holders[1+rng.IntN(16)] = p
				break
			}
		}
		next.Version++
		*r = next
		if err := m.Hold(next, now); err != nil {
			b.Fatal(err)
		}
		m.Drain()
	}
}
