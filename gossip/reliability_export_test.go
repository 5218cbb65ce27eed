package gossip

import "time"

// Internals of reliability.go for the tests; names start with Rep so they
// do not collide with other files' exports for tests.

// RepWeighted is a value with a weight, for RepTrimmedMean.
type RepWeighted = repWeighted

// RepW makes a RepWeighted.
func RepW(v, w float64) RepWeighted { return RepWeighted{v, w} }

// RepTrimmedMean is repTrimmedMean.
func RepTrimmedMean(vs []RepWeighted, trim float64) float64 { return repTrimmedMean(vs, trim) }

// RepWilsonLower is wilsonLower.
func RepWilsonLower(p, n, z float64) float64 { return wilsonLower(p, n, z) }

// Memory reports how many subjects, votes and reporter credibilities b
// holds.
func (b *Reputation[P]) Memory() (subjects, votes, reporters int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.order {
		votes += len(r.votes)
	}
	return len(b.order), votes, len(b.creds)
}

// Credibility returns how much reporter's votes count at now.
func (b *Reputation[P]) Credibility(reporter P, now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.credibility(reporter, now.UnixNano())
}
