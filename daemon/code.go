package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
)

// CodePolicy is how the daemon chooses the code of the files it stores:
// a placement.CodeSelector fed with what gossip knows, at every put and
// status and every Every in between, so that its hold sees the evidence
// as it moves.
type CodePolicy struct {
	// Selector tunes the hysteresis; its Params.Target and Params.MaxK are
	// the server's target and the node's bound when zero.
	Selector placement.CodeSelectorConfig
	// Every is how often the evidence is observed between puts. Default
	// DefaultCodeEvery.
	Every time.Duration
}

// DefaultCodeEvery is CodePolicy.Every's default.
const DefaultCodeEvery = 5 * time.Second

// codes is the server's code selector and its policy.
type codes struct {
	mu       sync.Mutex
	policy   CodePolicy
	sel      *placement.CodeSelector
	switches int // the selector's, at the last observation: a change is logged
}

// SetCodePolicy replaces how the server chooses the code of new files
// (and forgets the code it had). Call it before Serve.
func (s *Server) SetCodePolicy(p CodePolicy) error {
	if p.Every == 0 {
		p.Every = DefaultCodeEvery
	}
	if p.Every < 0 {
		return fmt.Errorf("api: code observation period %v is negative", p.Every)
	}
	if p.Selector.Params.Target == 0 {
		p.Selector.Params.Target = s.target
	}
	if p.Selector.Params.MaxK == 0 {
		p.Selector.Params.MaxK = s.n.CodeParams(s.target).MaxK
	}
	sel, err := placement.NewCodeSelector(p.Selector)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	s.codes.mu.Lock()
	defer s.codes.mu.Unlock()
	s.codes.policy, s.codes.sel, s.codes.switches = p, sel, 0
	return nil
}

// codePolicy returns the server's policy, its target the server's.
func (s *Server) codePolicy() CodePolicy {
	s.codes.mu.Lock()
	defer s.codes.mu.Unlock()
	return s.codes.policy
}

// code chooses k and m for the next file from what gossip knows.
func (s *Server) code() (placement.CodeChoice, error) {
	return s.codeFrom(s.n.GossipStatus())
}

// codeFrom is code from a gossip status already in hand.
func (s *Server) codeFrom(g node.GossipStatus) (placement.CodeChoice, error) {
	st, err := s.codeState(g)
	if err != nil {
		return placement.CodeChoice{}, err
	}
	return st.Code, nil
}

// codeState observes the evidence in g and returns the selector's
// decision; Code.Why explains it, hysteresis included.
func (s *Server) codeState(g node.GossipStatus) (placement.CodeState, error) {
	// The members a stripe can go to are this node and those it is
	// connected to, not gossip's size estimate: an early epoch's estimate
	// can be far off (4.1 in a cloud of six, all connected), and the code
	// would be forced down to fit it.
	bySize := g
	bySize.Size = 0
	p := s.n.CodeParamsFrom(bySize, s.target)
	ev := placement.CodeEvidence{Peers: p.Peers, MinM: p.MinM}
	for _, ps := range g.Peers {
		ev.Members = append(ev.Members, placement.Rated{Availability: ps.Reliability, Observations: ps.Evidence})
	}
	s.codes.mu.Lock()
	defer s.codes.mu.Unlock()
	if s.codes.sel == nil {
		return placement.CodeState{}, fmt.Errorf("api: no code policy")
	}
	st, err := s.codes.sel.Observe(ev)
	if err == nil && st.Switches != s.codes.switches {
		s.codes.switches = st.Switches
		s.log.Info("the code of new files changed", "k", st.Code.K, "m", st.Code.M, "why", st.Last)
	}
	return st, err
}

// keepCode observes the evidence every CodePolicy.Every until ctx ends.
func (s *Server) keepCode(ctx context.Context) {
	t := time.NewTicker(s.codePolicy().Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.codeState(s.n.GossipStatus())
		}
	}
}

// DriveCode returns a drive.Config.Code that takes the server's code, so
// that a drive mounted in the daemon's process writes with the code its
// files get (and `murmur status` shows).
func (s *Server) DriveCode() func(ctx context.Context) (int, int, error) {
	return func(context.Context) (int, int, error) {
		c, err := s.code()
		return c.K, c.M, err
	}
}
