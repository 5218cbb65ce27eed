package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Churn is the model of the members' behaviour: how available each one
// is, how its time splits into sessions and outages, and how long it stays
// before it leaves for good. Zero fields take the defaults, which are drawn
// from published measurements (docs/sim.md, "durability"):
//
//   - a member's availability a is Beta(AvailShape, 1), drawn once: mean
//     0.8 at the default 4, a wide spread as Bhagwan, Savage and Voelker
//     found across Overnet's hosts ("Understanding Availability", IPTPS
//     2003), shifted up to machines their owners keep on for a drive;
//   - its sessions and outages alternate, each Weibull with shape
//     SessionShape (default 0.5: Stutzbach and Rejaie, "Understanding
//     Churn in Peer-to-Peer Networks", IMC 2006, fit session lengths with
//     Weibull shapes 0.34 to 0.59, and found downtimes as heavy-tailed),
//     with means a·C and (1−a)·C for a cycle of C = a year over
//     OutagesPerYear (default 34: Chun et al., "Efficient Replica
//     Maintenance for Distributed Storage Systems", NSDI 2006, count about
//     21,000 transient failures over 632 PlanetLab hosts in a year);
//   - it leaves for good after an exponential lifetime such that
//     DepartPerYear of the members leave in a year (default 0.35: the same
//     trace's 219 disk failures among 632 hosts), and a newcomer joins in
//     its place (Poisson arrivals, as Stutzbach and Rejaie measured), with
//     nothing stored and no history.
type Churn struct {
	AvailShape     float64 `json:"avail_shape"`
	SessionShape   float64 `json:"session_shape"`
	OutagesPerYear float64 `json:"outages_per_year"`
	DepartPerYear  float64 `json:"depart_per_year"`
}

// WithDefaults fills the zero fields.
func (c Churn) WithDefaults() Churn {
	if c.AvailShape == 0 {
		c.AvailShape = 4
	}
	if c.SessionShape == 0 {
		c.SessionShape = 0.5
	}
	if c.OutagesPerYear == 0 {
		c.OutagesPerYear = 34
	}
	if c.DepartPerYear == 0 {
		c.DepartPerYear = 0.35
	}
	return c
}

const year = 365 * 24 * time.Hour

// member is one member's drawn behaviour.
type member struct {
	avail    float64
	upScale  float64 // Weibull scales, in seconds
	dnScale  float64
	shape    float64
	lifetime time.Duration
}

func (c Churn) draw(rng *rand.Rand) member {
	a := math.Pow(rng.Float64(), 1/c.AvailShape) // Beta(shape, 1)
	a = min(max(a, 0.05), 0.999)
	cycle := year.Seconds() / c.OutagesPerYear
	g := math.Gamma(1 + 1/c.SessionShape) // Weibull mean = scale·Γ(1+1/k)
	rate := -math.Log(1 - c.DepartPerYear)
	return member{
		avail:    a,
		upScale:  a * cycle / g,
		dnScale:  (1 - a) * cycle / g,
		shape:    c.SessionShape,
		lifetime: time.Duration(rng.ExpFloat64() / rate * float64(year)),
	}
}

func weibull(rng *rand.Rand, scale, shape float64) time.Duration {
	return time.Duration(scale * math.Pow(-math.Log(1-rng.Float64()), 1/shape) * 1e9)
}

// session draws the length of the member's next session (up) or outage.
func (m member) session(rng *rand.Rand, up bool) time.Duration {
	if up {
		return max(weibull(rng, m.upScale, m.shape), time.Second)
	}
	return max(weibull(rng, m.dnScale, m.shape), time.Second)
}

// outageQuantile is the q-quantile of the member's outage lengths.
func (m member) outageQuantile(q float64) time.Duration {
	return time.Duration(m.dnScale * math.Pow(-math.Log(1-q), 1/m.shape) * 1e9)
}
