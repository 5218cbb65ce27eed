package compute

import (
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// Scheduling. The owner's Scheduler decides where each run of each task
// goes, from what it is told (the compute peers and their slots, where
// each task's chunk lies, how runs ended) and a clock; it starts nothing
// itself, so a test drives it without a network.
//
// A task's first run goes to a holder of its chunk's data shard, which
// reads the chunk from its own disk: the job moves to its data. A task
// whose holders have no free slot waits for one, at most Wait, and then
// goes to another compute peer, which fetches the shard (or rebuilds it
// from k). Replicas run on other peers than the task's earlier runs; all
// tasks of one shard send their non-local runs to one peer while it has
// room (affinity), so that peer fetches the shard once. A peer that was
// busy or failed gets nothing for Backoff, and a failed run goes
// elsewhere. Each peer has at most its slots of this owner's runs at a
// time; a peer's own Busy answer covers other owners' use of it.

// SchedConfig configures a Scheduler.
type SchedConfig struct {
	Wait    time.Duration // for a holder's free slot; default 2s
	Backoff time.Duration // after a busy or failed run; default 3s
	Slice   SliceConfig   // the peers the job may use (slice.go)
}

func (c SchedConfig) withDefaults() SchedConfig {
	if c.Wait <= 0 {
		c.Wait = 2 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 3 * time.Second
	}
	c.Slice = c.Slice.withDefaults()
	return c
}

// Peer is a compute peer as the scheduler knows it.
type Peer struct {
	ID    string
	Slots int
	Free  int // free slots, as the peer last gossiped (for every owner)
}

// Assignment is one run to start: task Task on peer Peer, which holds
// the task's chunk if Local.
type Assignment struct {
	Task  int
	Peer  string
	Local bool
}

// RunEnd is how a run ended, for the scheduler.
type RunEnd uint8

const (
	RunDone   RunEnd = iota + 1 // it answered (a result to count)
	RunBusy                     // the peer had no free slot
	RunFailed                   // unreachable, timed out, refused, no shard
)

type peerSched struct {
	slots   int
	free    int // gossiped
	running int
	until   time.Time // no work before this
}

type taskSched struct {
	holders  []string
	group    string
	want     int // runs wanted in all
	done     int // runs answered
	running  map[string]bool
	tried    map[string]bool // peers that answered or failed this task
	queued   time.Time
	complete bool
}

// Scheduler decides where runs go. It is not safe for concurrent use.
type Scheduler struct {
	cfg       SchedConfig
	peers     map[string]*peerSched
	order     []string // peers, sorted
	tasks     map[int]*taskSched
	pending   []int                // tasks that may want a run, ascending
	affinity  map[string]string    // group → the peer taking its non-local runs
	lastLocal time.Time            // when a local run last started
	members   map[string]time.Time // the job's slice: peer → its last run's start or end
	lastGrow  time.Time
}

// NewScheduler returns an empty Scheduler.
func NewScheduler(cfg SchedConfig) *Scheduler {
	return &Scheduler{cfg: cfg.withDefaults(), peers: map[string]*peerSched{},
		tasks: map[int]*taskSched{}, affinity: map[string]string{}, members: map[string]time.Time{}}
}

// SetPeers replaces the compute peers: a peer no longer listed gets no
// more runs (its running ones end as they end).
func (s *Scheduler) SetPeers(ps []Peer) {
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Slots <= 0 {
			continue
		}
		seen[p.ID] = true
		if q, ok := s.peers[p.ID]; ok {
			q.slots, q.free = p.Slots, p.Free
		} else {
			s.peers[p.ID] = &peerSched{slots: p.Slots, free: p.Free}
		}
	}
	for id, q := range s.peers {
		if !seen[id] {
			q.slots = 0
		}
	}
	s.order = s.order[:0]
	for id := range s.peers {
		s.order = append(s.order, id)
	}
	sort.Strings(s.order)
}

// Add schedules task i, whose chunk's data shard is held by holders and
// belongs to group (the shard), wanting want runs.
func (s *Scheduler) Add(i int, holders []string, group string, want int, now time.Time) error {
	if _, ok := s.tasks[i]; ok {
		return fmt.Errorf("compute: task %d scheduled twice", i)
	}
	s.tasks[i] = &taskSched{holders: holders, group: group, want: want, queued: now,
		running: map[string]bool{}, tried: map[string]bool{}}
	s.pending = insertSorted(s.pending, i)
	return nil
}

// Want raises the runs task i wants in all (its tally asked for more).
func (s *Scheduler) Want(i, want int, now time.Time) {
	t := s.tasks[i]
	if t == nil || t.complete || want <= t.want {
		return
	}
	t.want = want
	t.queued = now
	s.pending = insertSorted(s.pending, i)
}

// Complete ends task i: it is decided, nothing more runs for it.
func (s *Scheduler) Complete(i int) {
	if t := s.tasks[i]; t != nil {
		t.complete = true
	}
}

// Ended records how a run of task i on peer p ended.
func (s *Scheduler) Ended(i int, p string, end RunEnd, now time.Time) {
	if q := s.peers[p]; q != nil && q.running > 0 {
		q.running--
		if end != RunDone {
			q.until = now.Add(s.cfg.Backoff)
		}
	}
	s.touch(p, now)
	t := s.tasks[i]
	if t == nil {
		return
	}
	delete(t.running, p)
	switch end {
	case RunDone:
		t.done++
		t.tried[p] = true
	case RunFailed:
		t.tried[p] = true
		if s.affinity[t.group] == p {
			delete(s.affinity, t.group)
		}
		fallthrough
	case RunBusy:
		if !t.complete {
			s.pending = insertSorted(s.pending, i)
		}
	}
}

// Tried returns how many peers answered or failed task i.
func (s *Scheduler) Tried(i int) int {
	if t := s.tasks[i]; t != nil {
		return len(t.tried)
	}
	return 0
}

// Candidates returns how many compute peers could still take a run of
// task i (neither tried nor running it), whatever their load.
func (s *Scheduler) Candidates(i int) int {
	t := s.tasks[i]
	if t == nil {
		return 0
	}
	n := 0
	for _, id := range s.order {
		if s.peers[id].slots > 0 && !t.tried[id] && !t.running[id] {
			n++
		}
	}
	return n
}

// free reports whether p, a member of the slice, may take a run now.
func (s *Scheduler) free(p string, now time.Time) bool {
	q := s.peers[p]
	return q != nil && q.slots > q.running && !now.Before(q.until) && s.member(p)
}

// Next returns the runs to start now; each is counted as running until
// Ended. It is delay scheduling (Zaharia et al.): every free slot first
// takes the earliest waiting task whose chunk its peer holds; a task goes
// to a peer without its chunk only when it cannot wait (a replica, whose
// holder has run it already; a chunk no compute peer holds), or when no
// task has started locally for Wait and it has waited that long itself.
// Runs go to the job's slice only, which Next resizes (slice.go).
func (s *Scheduler) Next(now time.Time) []Assignment {
	s.trim(now)
	if len(s.members) < s.cfg.Slice.Min {
		// The job's start, or members gone: back to Min at once.
		if s.grow(now, s.cfg.Slice.Min-len(s.members), true) > 0 {
			s.lastGrow = now
		}
	}
	out := s.place(now)
	if s.resize(now) {
		out = append(out, s.place(now)...)
	}
	return out
}

// place is one round of Next's placement over the slice.
func (s *Scheduler) place(now time.Time) []Assignment {
	var out []Assignment
	// Local runs: each peer's free slots take the tasks it holds.
	for _, p := range s.order {
		for s.free(p, now) {
			i, ok := s.localFor(p)
			if !ok {
				break
			}
			out = append(out, s.start(i, s.tasks[i], p, true, now))
			s.lastLocal = now
		}
	}
	// The rest, elsewhere, if they may not wait.
	keep := s.pending[:0]
	for _, i := range s.pending {
		t := s.tasks[i]
		if t == nil || t.complete {
			continue
		}
		for s.wants(t) && s.mayMove(t, now) {
			a, ok := s.elsewhere(i, t, now)
			if !ok {
				break
			}
			out = append(out, a)
		}
		if s.wants(t) {
			keep = append(keep, i)
		}
	}
	s.pending = keep
	return out
}

func (s *Scheduler) wants(t *taskSched) bool { return !t.complete && t.done+len(t.running) < t.want }

func usable(t *taskSched, p string) bool { return !t.tried[p] && !t.running[p] }

// localFor returns the earliest waiting task that peer p holds the chunk
// of and may run.
func (s *Scheduler) localFor(p string) (int, bool) {
	for _, i := range s.pending {
		t := s.tasks[i]
		if t != nil && s.wants(t) && isHolder(t.holders, p) && usable(t, p) {
			return i, true
		}
	}
	return 0, false
}

// mayMove reports whether task t may run on a peer without its chunk now.
func (s *Scheduler) mayMove(t *taskSched, now time.Time) bool {
	for _, h := range t.holders {
		if q := s.peers[h]; q != nil && q.slots > 0 && usable(t, h) {
			// A compute holder could still run it: wait for it, while
			// local runs keep starting and for Wait at most.
			return now.Sub(t.queued) >= s.cfg.Wait && now.Sub(s.lastLocal) >= s.cfg.Wait
		}
	}
	return true
}

func (s *Scheduler) start(i int, t *taskSched, p string, local bool, now time.Time) Assignment {
	s.peers[p].running++
	t.running[p] = true
	s.touch(p, now)
	return Assignment{Task: i, Peer: p, Local: local}
}

// elsewhere places a run of task i on a peer that does not hold its
// chunk: the shard's affinity peer, else the least loaded.
func (s *Scheduler) elsewhere(i int, t *taskSched, now time.Time) (Assignment, bool) {
	if p, ok := s.affinity[t.group]; ok && usable(t, p) && s.free(p, now) && !isHolder(t.holders, p) {
		return s.start(i, t, p, false, now), true
	}
	best, bestFree := "", 0
	for _, p := range s.order {
		if !usable(t, p) || !s.free(p, now) || isHolder(t.holders, p) {
			continue
		}
		q := s.peers[p]
		free := q.slots - q.running
		if free > bestFree || (free == bestFree && spread(t.group, p) < spread(t.group, best)) {
			best, bestFree = p, free
		}
	}
	if best == "" {
		return Assignment{}, false
	}
	s.affinity[t.group] = best
	return s.start(i, t, best, false, now), true
}

// Wake returns the next time after now at which Next may place what it
// could not place at now, though nothing else happens: a task waiting
// for its holder may move elsewhere, or a peer's backoff ends. The zero
// time means nothing waits on the clock (only on runs ending).
func (s *Scheduler) Wake(now time.Time) time.Time {
	var w time.Time
	soonest := func(at time.Time) {
		if at.After(now) && (w.IsZero() || at.Before(w)) {
			w = at
		}
	}
	for _, i := range s.pending {
		t := s.tasks[i]
		if t == nil || !s.wants(t) || s.mayMove(t, now) {
			continue
		}
		at := t.queued
		if s.lastLocal.After(at) {
			at = s.lastLocal
		}
		soonest(at.Add(s.cfg.Wait))
	}
	if len(s.pending) > 0 {
		for _, q := range s.peers {
			if q.slots > 0 {
				soonest(q.until)
			}
		}
		if s.canGrow() {
			soonest(s.lastGrow.Add(s.cfg.Slice.Grow))
		}
	}
	return w
}

// Backlog returns the tasks waiting for a run.
func (s *Scheduler) Backlog() int { return len(s.pending) }

func isHolder(hs []string, p string) bool {
	for _, h := range hs {
		if h == p {
			return true
		}
	}
	return false
}

// spread orders peers differently for each group, so that ties do not all
// go to one peer.
func spread(group, p string) uint64 {
	if p == "" {
		return ^uint64(0)
	}
	h := fnv.New64a()
	h.Write([]byte(group))
	h.Write([]byte(p))
	return h.Sum64()
}

func insertSorted(xs []int, v int) []int {
	i := sort.SearchInts(xs, v)
	if i < len(xs) && xs[i] == v {
		return xs
	}
	xs = append(xs, 0)
	copy(xs[i+1:], xs[i:])
	xs[i] = v
	return xs
}
