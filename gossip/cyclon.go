package gossip

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Entry is a link in a view: a peer and how many shuffles ago the link
// was made by the peer itself.
type Entry[P comparable] struct {
	Peer P
	Age  uint32
}

// CyclonConfig sizes the peer-sampling view.
type CyclonConfig struct {
	ViewSize   int // links a node keeps (c); default 20
	ShuffleLen int // links exchanged per shuffle (l), at most ViewSize; default 8
}

// WithDefaults fills the zero fields and checks the rest.
func (c CyclonConfig) WithDefaults() (CyclonConfig, error) {
	if c.ViewSize == 0 {
		c.ViewSize = 20
	}
	if c.ShuffleLen == 0 {
		c.ShuffleLen = min(8, c.ViewSize)
	}
	if c.ViewSize < 1 || c.ShuffleLen < 1 || c.ShuffleLen > c.ViewSize || c.ViewSize > MaxView {
		return c, fmt.Errorf("gossip: Cyclon view %d and shuffle length %d: want 1 ≤ l ≤ c ≤ %d", c.ViewSize, c.ShuffleLen, MaxView)
	}
	return c, nil
}

// MaxView bounds a view (and so the links in one shuffle message).
const MaxView = 256

// Cyclon is one node's peer sampling by enhanced shuffling (Voulgaris,
// Gavidia and van Steen, "CYCLON: Inexpensive Membership Management for
// Unstructured P2P Overlays", 2005). Each cycle the node ages its links,
// takes the oldest one out of its view and sends that peer ShuffleLen-1
// random links plus a fresh link to itself; the peer answers with as many
// random links of its own, and both merge what they got in place of what
// they sent. Links to a dead peer stop being passed on once it fails to
// answer, and the oldest link is always the one tried, so dead links leave
// every view within a few tens of cycles; in-degrees stay narrowly spread
// because every shuffle moves links rather than copying them.
//
// Cyclon is a state machine: the driver (the simulator, or real nodes over
// libp2p) carries StartShuffle's request to the peer, the peer's
// HandleShuffle answer back to HandleReply, and reports a shuffle that got
// no answer with ShuffleFailed. It is not safe for concurrent use.
type Cyclon[P comparable] struct {
	self P
	cfg  CyclonConfig
	view []Entry[P]

	// The shuffle in flight: whom it went to and which links were sent.
	pendingTo P
	pending   []Entry[P]
	inFlight  bool
}

// NewCyclon returns the peer-sampling state of node self, with an empty view.
func NewCyclon[P comparable](self P, cfg CyclonConfig) (*Cyclon[P], error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Cyclon[P]{
		self:    self,
		cfg:     cfg,
		view:    make([]Entry[P], 0, cfg.ViewSize),
		pending: make([]Entry[P], 0, cfg.ShuffleLen),
	}, nil
}

// Self returns the node's own peer.
func (c *Cyclon[P]) Self() P { return c.self }

// View returns the node's links. The slice is the Cyclon's own: read it
// before the next call.
func (c *Cyclon[P]) View() []Entry[P] { return c.view }

// Len returns the number of links in the view.
func (c *Cyclon[P]) Len() int { return len(c.view) }

// Add puts a link to p into the view (to bootstrap, or for a peer met
// another way) if it is not there and there is room. It reports whether
// the link was added.
func (c *Cyclon[P]) Add(p P) bool {
	if p == c.self || c.index(p) >= 0 || len(c.view) == cap(c.view) {
		return false
	}
	c.view = append(c.view, Entry[P]{Peer: p})
	return true
}

// Remove drops the link to p, if any (a peer known to have left).
func (c *Cyclon[P]) Remove(p P) {
	if i := c.index(p); i >= 0 {
		c.drop(i)
	}
}

// Sample returns a peer drawn uniformly from the view.
func (c *Cyclon[P]) Sample(rng *rand.Rand) (P, bool) {
	if len(c.view) == 0 {
		var zero P
		return zero, false
	}
	return c.view[rng.IntN(len(c.view))].Peer, true
}

// StartShuffle begins a shuffle: it ages every link, takes the oldest out
// of the view and returns its peer with the request to send it, appended
// to buf: a fresh link to this node and ShuffleLen-1 random links. With an
// empty view there is nobody to shuffle with.
func (c *Cyclon[P]) StartShuffle(rng *rand.Rand, buf []Entry[P]) (to P, req []Entry[P], ok bool) {
	if len(c.view) == 0 {
		return to, buf, false
	}
	oldest := 0
	for i := range c.view {
		if c.view[i].Age < math.MaxUint32 {
			c.view[i].Age++
		}
		if c.view[i].Age > c.view[oldest].Age {
			oldest = i
		}
	}
	to = c.view[oldest].Peer
	c.drop(oldest)
	req = append(buf, Entry[P]{Peer: c.self})
	c.pending = c.pick(rng, c.cfg.ShuffleLen-1, c.pending[:0])
	req = append(req, c.pending...)
	c.pendingTo, c.inFlight = to, true
	return to, req, true
}

// HandleShuffle answers a shuffle request from another node: it returns,
// appended to buf, up to ShuffleLen random links of this view, and merges
// the request's links in place of those.
func (c *Cyclon[P]) HandleShuffle(from P, req []Entry[P], rng *rand.Rand, buf []Entry[P]) []Entry[P] {
	start := len(buf)
	reply := c.pick(rng, min(c.cfg.ShuffleLen, len(req)), buf)
	c.merge(req, reply[start:])
	return reply
}

// HandleReply merges the answer to this node's shuffle in flight. An
// answer from anyone else, or when no shuffle is in flight, is ignored.
func (c *Cyclon[P]) HandleReply(from P, reply []Entry[P]) {
	if !c.inFlight || from != c.pendingTo {
		return
	}
	c.inFlight = false
	c.merge(reply, c.pending)
}

// ShuffleFailed reports that the shuffle in flight got no answer. The link
// to that peer has already left the view; the links sent stay.
func (c *Cyclon[P]) ShuffleFailed(to P) {
	if c.inFlight && to == c.pendingTo {
		c.inFlight = false
	}
}

// merge adds the links received, skipping links to this node and to peers
// already in view: into free slots first, then in place of the links sent.
func (c *Cyclon[P]) merge(received, sent []Entry[P]) {
	s := 0
	for _, e := range received {
		if e.Peer == c.self || c.index(e.Peer) >= 0 {
			continue
		}
		if len(c.view) < cap(c.view) {
			c.view = append(c.view, e)
			continue
		}
		for ; s < len(sent); s++ {
			if i := c.index(sent[s].Peer); i >= 0 {
				c.view[i] = e
				s++
				break
			}
		}
		// No link sent is left to replace: the rest are dropped.
	}
}

// pick appends n distinct random links of the view to buf (all of them
// when the view is smaller).
func (c *Cyclon[P]) pick(rng *rand.Rand, n int, buf []Entry[P]) []Entry[P] {
	n = min(n, len(c.view))
	// A partial Fisher-Yates shuffle of the view itself: the order of a
	// view carries no meaning.
	for i := range n {
		j := i + rng.IntN(len(c.view)-i)
		c.view[i], c.view[j] = c.view[j], c.view[i]
		buf = append(buf, c.view[i])
	}
	return buf
}

func (c *Cyclon[P]) index(p P) int {
	for i := range c.view {
		if c.view[i].Peer == p {
			return i
		}
	}
	return -1
}

func (c *Cyclon[P]) drop(i int) {
	last := len(c.view) - 1
	c.view[i] = c.view[last]
	c.view = c.view[:last]
}
