package placement

import "math"

// TotalRecallRedundancy is Total Recall's redundancy factor (k+m)/k for k
// data shards on hosts of availability mu, to be available with
// probability target (Bhagwan et al., NSDI 2004, section 4.2): the normal
// approximation of the binomial ChooseCode sums exactly.
func TotalRecallRedundancy(k int, mu, target float64) float64 {
	sigma := math.Sqrt2 * math.Erfinv(2*target-1) // standard deviations for target
	v := mu * (1 - mu) / float64(k)
	x := (sigma*math.Sqrt(v) + math.Sqrt(sigma*sigma*v+4*mu)) / (2 * mu)
	return x * x
}
