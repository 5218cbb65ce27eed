package repair

import (
	"math"
	"time"
)

// Bucket is a token bucket of repair bytes on an injected clock, so that
// the simulator drives its time as a node's clock does (x/time/rate reads
// the wall clock unless every call passes a time, and its reservations do
// not fit a state machine that only answers calls). It holds up to Burst
// tokens and gains Rate a second; Take may drive it below zero, so a
// repair larger than the burst still runs, and the debt is paid before the
// next. It is not safe for concurrent use.
type Bucket struct {
	rate   float64 // tokens per second; +Inf: no cap
	burst  float64
	tokens float64
	at     time.Time
}

// NewBucket returns a full bucket; rate ≤ 0 means no cap.
func NewBucket(rate, burst int64, now time.Time) *Bucket {
	b := &Bucket{rate: float64(rate), burst: float64(max(burst, 1)), at: now}
	if rate <= 0 {
		b.rate = math.Inf(1)
	}
	b.tokens = b.burst
	return b
}

func (b *Bucket) fill(now time.Time) {
	if now.After(b.at) {
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.at).Seconds())
		b.at = now
	}
}

// Tokens returns the tokens at now (negative: a debt).
func (b *Bucket) Tokens(now time.Time) float64 {
	b.fill(now)
	return b.tokens
}

// Take takes n tokens if the bucket holds at least min(n, Burst) at now.
func (b *Bucket) Take(n int64, now time.Time) bool {
	if math.IsInf(b.rate, 1) {
		return true
	}
	b.fill(now)
	if b.tokens < min(float64(n), b.burst) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// Refund gives back n tokens (a repair that moved less than it took).
func (b *Bucket) Refund(n int64, now time.Time) {
	b.fill(now)
	b.tokens = min(b.burst, b.tokens+float64(n))
}

// When returns the earliest time Take(n) can succeed.
func (b *Bucket) When(n int64, now time.Time) time.Time {
	if math.IsInf(b.rate, 1) {
		return now
	}
	b.fill(now)
	short := min(float64(n), b.burst) - b.tokens
	if short <= 0 {
		return now
	}
	return now.Add(time.Duration(math.Ceil(short / b.rate * 1e9)))
}
