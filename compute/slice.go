package compute

import (
	"cmp"
	"slices"
	"time"
)

// A job's slice. Jobs of different owners share the compute peers with no
// master: each job runs on a slice of them, which its own Scheduler grows
// while the job has a backlog and shrinks when members sit idle. A job
// starts on the Min peers that hold most of its waiting chunks. While
// tasks wait after a round of placement, the slice at most doubles every
// Grow, taking the peers whose gossiped free slots say they have room
// (other jobs' slices leave none), those holding the most waiting chunks
// first. A task that no member may run at all (every member has run it:
// replicas and disagreements need distinct peers) takes one more peer at
// once, free or not. A member with no run of the job for Idle leaves,
// down to Min. The workers' fair share (fairshare.go) divides a peer that
// several slices hold.

// SliceConfig configures a job's slice.
type SliceConfig struct {
	Min  int           // peers a job starts with; default 3
	Grow time.Duration // between growths while the job has a backlog; default 500ms
	Idle time.Duration // a member with no run this long leaves; default 5s
	Salt string        // spreads ties differently for each job (its ID)
}

func (c SliceConfig) withDefaults() SliceConfig {
	if c.Min <= 0 {
		c.Min = 3
	}
	if c.Grow <= 0 {
		c.Grow = 500 * time.Millisecond
	}
	if c.Idle <= 0 {
		c.Idle = 5 * time.Second
	}
	return c
}

// Members returns the slice's peers, sorted.
func (s *Scheduler) Members() []string {
	out := make([]string, 0, len(s.members))
	for p := range s.members {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// member reports whether p is in the slice.
func (s *Scheduler) member(p string) bool {
	_, ok := s.members[p]
	return ok
}

// touch records activity of member p: a run started or ended there.
func (s *Scheduler) touch(p string, now time.Time) {
	if _, ok := s.members[p]; ok {
		s.members[p] = now
	}
}

// trim drops members no longer listed, and idle ones down to Min.
func (s *Scheduler) trim(now time.Time) {
	for p := range s.members {
		if q := s.peers[p]; q == nil || q.slots <= 0 {
			delete(s.members, p)
		}
	}
	idle := s.Members()
	idle = slices.DeleteFunc(idle, func(p string) bool {
		return s.peers[p].running > 0 || now.Sub(s.members[p]) < s.cfg.Slice.Idle || s.holdsWaiting(p)
	})
	// The longest idle leave first.
	slices.SortFunc(idle, func(a, b string) int { return s.members[a].Compare(s.members[b]) })
	for _, p := range idle {
		if len(s.members) <= s.cfg.Slice.Min {
			break
		}
		delete(s.members, p)
	}
}

// holdsWaiting reports whether p holds the chunk of a task that wants a run.
func (s *Scheduler) holdsWaiting(p string) bool {
	for _, i := range s.pending {
		if t := s.tasks[i]; t != nil && s.wants(t) && isHolder(t.holders, p) && usable(t, p) {
			return true
		}
	}
	return false
}

// grow adds up to n listed peers to the slice, ranked by the waiting
// chunks they hold, then their free slots; only peers with gossiped free
// slots unless any is true. It returns how many joined.
func (s *Scheduler) grow(now time.Time, n int, any bool) int {
	type cand struct {
		id         string
		held, free int
		spread     uint64
		backingOff bool
	}
	var cs []cand
	for _, p := range s.order {
		q := s.peers[p]
		if s.member(p) || q.slots <= 0 || (!any && q.free <= 0) {
			continue
		}
		c := cand{id: p, free: q.free, spread: spread(s.cfg.Slice.Salt, p), backingOff: now.Before(q.until)}
		for _, i := range s.pending {
			if t := s.tasks[i]; t != nil && s.wants(t) && isHolder(t.holders, p) && usable(t, p) {
				c.held++
			}
		}
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.backingOff != b.backingOff {
			if a.backingOff {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(b.held, a.held); c != 0 {
			return c
		}
		if c := cmp.Compare(b.free, a.free); c != 0 {
			return c
		}
		return cmp.Compare(a.spread, b.spread)
	})
	added := 0
	for _, c := range cs[:min(n, len(cs))] {
		s.members[c.id] = now
		added++
	}
	return added
}

// needsPeer reports whether a waiting task has no member it may run on
// (each has run it or runs it) while a listed peer outside could.
func (s *Scheduler) needsPeer() bool {
	for _, i := range s.pending {
		t := s.tasks[i]
		if t == nil || !s.wants(t) {
			continue
		}
		inside, outside := false, false
		for _, p := range s.order {
			if s.peers[p].slots <= 0 || !usable(t, p) {
				continue
			}
			if s.member(p) {
				inside = true
				break
			}
			outside = true
		}
		if !inside && outside {
			return true
		}
	}
	return false
}

// resize grows the slice as the backlog left by a round of placement
// asks, and reports whether it grew.
func (s *Scheduler) resize(now time.Time) bool {
	grew := false
	for s.needsPeer() && s.grow(now, 1, true) > 0 {
		grew = true
	}
	if s.Backlog() > 0 && now.Sub(s.lastGrow) >= s.cfg.Slice.Grow {
		if s.grow(now, max(1, len(s.members)), false) > 0 {
			s.lastGrow, grew = now, true
		}
	}
	return grew
}

// canGrow reports whether a listed peer outside the slice gossips free slots.
func (s *Scheduler) canGrow() bool {
	for p, q := range s.peers {
		if !s.member(p) && q.slots > 0 && q.free > 0 {
			return true
		}
	}
	return false
}
