package compute_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/compute"
)

var clock0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	schedWait    = 2 * time.Second
	schedBackoff = 3 * time.Second
)

func newSched(t testing.TB, peers ...compute.Peer) *compute.Scheduler {
	t.Helper()
	s := compute.NewScheduler(compute.SchedConfig{Wait: schedWait, Backoff: schedBackoff})
	s.SetPeers(peers)
	return s
}

func addTask(t testing.TB, s *compute.Scheduler, i int, holders []string, group string, want int, now time.Time) {
	t.Helper()
	if err := s.Add(i, holders, group, want, now); err != nil {
		t.Fatal(err)
	}
}

func sortedAssignments(as []compute.Assignment) []compute.Assignment {
	sort.Slice(as, func(i, j int) bool {
		if as[i].Task != as[j].Task {
			return as[i].Task < as[j].Task
		}
		return as[i].Peer < as[j].Peer
	})
	return as
}

func wantAssignments(t *testing.T, what string, got []compute.Assignment, want ...compute.Assignment) {
	t.Helper()
	if fmt.Sprint(sortedAssignments(got)) != fmt.Sprint(sortedAssignments(want)) {
		t.Fatalf("%s: assigned %v, want %v", what, got, want)
	}
}

func TestSchedLocal(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 1}, compute.Peer{ID: "b", Slots: 1})
	addTask(t, s, 0, []string{"b"}, "g", 1, clock0)
	wantAssignments(t, "holder free", s.Next(clock0), compute.Assignment{Task: 0, Peer: "b", Local: true})
	wantAssignments(t, "again", s.Next(clock0))
	if err := s.Add(0, nil, "g", 1, clock0); err == nil {
		t.Fatal("a task added twice")
	}
	// A chunk no compute peer holds goes anywhere at once.
	addTask(t, s, 1, []string{"elsewhere"}, "h", 1, clock0)
	wantAssignments(t, "no compute holder", s.Next(clock0), compute.Assignment{Task: 1, Peer: "a"})
	if s.Backlog() != 0 {
		t.Fatalf("backlog %d", s.Backlog())
	}
}

func TestSchedWaitForHolder(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 1}, compute.Peer{ID: "b", Slots: 1}, compute.Peer{ID: "c", Slots: 1})
	addTask(t, s, 0, []string{"a"}, "g", 1, clock0)
	addTask(t, s, 1, []string{"a"}, "g", 1, clock0)
	wantAssignments(t, "start", s.Next(clock0), compute.Assignment{Task: 0, Peer: "a", Local: true})
	if w := s.Wake(clock0); !w.Equal(clock0.Add(schedWait)) {
		t.Fatalf("wake %v, want %v", w, clock0.Add(schedWait))
	}
	wantAssignments(t, "before Wait", s.Next(clock0.Add(schedWait-time.Nanosecond)))
	// A local run starts elsewhere: task 1 waits Wait more.
	addTask(t, s, 2, []string{"c"}, "h", 1, clock0)
	at := clock0.Add(time.Second)
	wantAssignments(t, "another local run", s.Next(at), compute.Assignment{Task: 2, Peer: "c", Local: true})
	wantAssignments(t, "at Wait after queueing", s.Next(clock0.Add(schedWait)))
	if w := s.Wake(clock0.Add(schedWait)); !w.Equal(at.Add(schedWait)) {
		t.Fatalf("wake %v, want %v", w, at.Add(schedWait))
	}
	wantAssignments(t, "after Wait", s.Next(at.Add(schedWait)), compute.Assignment{Task: 1, Peer: "b"})
	// The holder freeing up later changes nothing.
	s.Ended(0, "a", compute.RunDone, at.Add(schedWait))
	wantAssignments(t, "holder free", s.Next(at.Add(schedWait)))
}

func TestSchedReplicas(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 3}, compute.Peer{ID: "b", Slots: 3}, compute.Peer{ID: "c", Slots: 3})
	addTask(t, s, 0, []string{"a"}, "g", 3, clock0)
	got := s.Next(clock0)
	peers := map[string]bool{}
	for _, a := range got {
		if peers[a.Peer] || a.Task != 0 || a.Local != (a.Peer == "a") {
			t.Fatalf("assigned %v", got)
		}
		peers[a.Peer] = true
	}
	if len(peers) != 3 {
		t.Fatalf("3 replicas on %v", got)
	}
	// A fourth run has no peer left: never twice on one.
	s.Want(0, 4, clock0)
	wantAssignments(t, "four replicas, three peers", s.Next(clock0.Add(time.Hour)))
	for _, p := range []string{"a", "b", "c"} {
		s.Ended(0, p, compute.RunDone, clock0.Add(time.Hour))
	}
	wantAssignments(t, "all tried", s.Next(clock0.Add(2*time.Hour)))
	if s.Candidates(0) != 0 || s.Tried(0) != 3 {
		t.Fatalf("candidates %d, tried %d", s.Candidates(0), s.Tried(0))
	}
	// Want only raises.
	addTask(t, s, 1, nil, "h", 2, clock0)
	s.Want(1, 1, clock0)
	if n := len(s.Next(clock0)); n != 2 {
		t.Fatalf("%d runs of a task wanting 2", n)
	}
}

func TestSchedBusyBackoff(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 1}, compute.Peer{ID: "b", Slots: 1})
	addTask(t, s, 0, nil, "g", 1, clock0)
	got := s.Next(clock0)
	if len(got) != 1 {
		t.Fatalf("assigned %v", got)
	}
	p := got[0].Peer
	other := map[string]string{"a": "b", "b": "a"}[p]
	s.Ended(0, p, compute.RunBusy, clock0)
	if s.Tried(0) != 0 || s.Candidates(0) != 2 {
		t.Fatal("a busy peer counts as tried")
	}
	wantAssignments(t, "after busy", s.Next(clock0), compute.Assignment{Task: 0, Peer: other})
	addTask(t, s, 1, nil, "g", 1, clock0)
	wantAssignments(t, "busy peer backing off", s.Next(clock0.Add(schedBackoff-time.Nanosecond)))
	wantAssignments(t, "backoff over", s.Next(clock0.Add(schedBackoff)), compute.Assignment{Task: 1, Peer: p})
}

func TestSchedFailed(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 2}, compute.Peer{ID: "b", Slots: 2}, compute.Peer{ID: "c", Slots: 2})
	addTask(t, s, 0, []string{"a"}, "g", 1, clock0)
	wantAssignments(t, "start", s.Next(clock0), compute.Assignment{Task: 0, Peer: "a", Local: true})
	now := clock0
	left := map[string]bool{"b": true, "c": true}
	s.Ended(0, "a", compute.RunFailed, now)
	for n := 2; n > 0; n-- {
		if s.Candidates(0) != n || s.Tried(0) != 3-n {
			t.Fatalf("candidates %d tried %d, want %d and %d", s.Candidates(0), s.Tried(0), n, 3-n)
		}
		got := s.Next(now)
		if len(got) != 1 || !left[got[0].Peer] || got[0].Local {
			t.Fatalf("a failed run went to %v, want one of %v", got, left)
		}
		delete(left, got[0].Peer)
		now = now.Add(time.Millisecond)
		s.Ended(0, got[0].Peer, compute.RunFailed, now)
	}
	if s.Candidates(0) != 0 || s.Tried(0) != 3 {
		t.Fatalf("candidates %d tried %d after every peer failed", s.Candidates(0), s.Tried(0))
	}
	wantAssignments(t, "every peer failed", s.Next(now.Add(time.Hour)))
	if s.Candidates(99) != 0 || s.Tried(99) != 0 {
		t.Fatal("an unknown task has candidates")
	}
}

func TestSchedAffinity(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 4}, compute.Peer{ID: "b", Slots: 4}, compute.Peer{ID: "c", Slots: 4})
	for i := range 6 {
		addTask(t, s, i, []string{"offline"}, "shard", 1, clock0)
	}
	got := s.Next(clock0)
	if len(got) != 6 {
		t.Fatalf("assigned %v", got)
	}
	on := map[string][]int{}
	for _, a := range got {
		on[a.Peer] = append(on[a.Peer], a.Task)
	}
	first := got[0].Peer
	if len(on) != 2 || len(on[first]) != 4 {
		t.Fatalf("one group's runs spread over %v: want 4 on one peer, the rest on one other", on)
	}
	// The group's next run follows the second peer, which has room.
	var second string
	for p := range on {
		if p != first {
			second = p
		}
	}
	addTask(t, s, 6, []string{"offline"}, "shard", 1, clock0)
	wantAssignments(t, "affinity", s.Next(clock0), compute.Assignment{Task: 6, Peer: second})
	// A failure there moves the group.
	s.Ended(6, second, compute.RunFailed, clock0)
	s.Ended(0, first, compute.RunDone, clock0)
	addTask(t, s, 7, []string{"offline"}, "shard", 1, clock0)
	got = s.Next(clock0)
	for _, a := range got {
		if a.Peer == second {
			t.Fatalf("a run on the failed affinity peer: %v", got)
		}
	}
	// Replicas of a group's tasks, which may not wait, follow it too.
	s2 := newSched(t, compute.Peer{ID: "h", Slots: 8}, compute.Peer{ID: "x", Slots: 8}, compute.Peer{ID: "y", Slots: 8}, compute.Peer{ID: "z", Slots: 8})
	for i := range 5 {
		addTask(t, s2, i, []string{"h"}, "g", 2, clock0)
	}
	remote := map[string]int{}
	for _, a := range s2.Next(clock0) {
		if a.Local != (a.Peer == "h") {
			t.Fatalf("assignment %v", a)
		}
		if !a.Local {
			remote[a.Peer]++
		}
	}
	if len(remote) != 1 {
		t.Fatalf("a group's replicas went to %v, want one peer", remote)
	}
}

func TestSchedSetPeers(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 1}, compute.Peer{ID: "b", Slots: 1})
	addTask(t, s, 0, nil, "g", 1, clock0)
	addTask(t, s, 1, nil, "h", 1, clock0)
	if n := len(s.Next(clock0)); n != 2 {
		t.Fatalf("%d runs", n)
	}
	s.SetPeers([]compute.Peer{{ID: "a", Slots: 2}, {ID: "zero", Slots: 0}})
	for i := 2; i < 6; i++ {
		addTask(t, s, i, []string{"b"}, "g", 1, clock0)
	}
	if s.Candidates(2) != 1 {
		t.Fatalf("candidates %d with one peer left", s.Candidates(2))
	}
	s.Ended(0, "b", compute.RunDone, clock0)
	s.Ended(1, "a", compute.RunDone, clock0)
	for _, now := range []time.Time{clock0, clock0.Add(time.Hour)} {
		for _, a := range s.Next(now) {
			if a.Peer != "a" || a.Local {
				t.Fatalf("a run on %v after it left", a)
			}
		}
	}
	s.SetPeers([]compute.Peer{{ID: "a", Slots: 2}, {ID: "b", Slots: 1}})
	got := s.Next(clock0.Add(time.Hour))
	wantAssignments(t, "b back", got, compute.Assignment{Task: 4, Peer: "b", Local: true})
}

// TestSchedWakeNotPast: once Next has placed all it can, Wake must not
// name a time already past, or a caller sleeping until Wake (the owner's
// loop) spins while every peer is full or backing off.
func TestSchedWakeNotPast(t *testing.T) {
	s := newSched(t, compute.Peer{ID: "a", Slots: 1})
	addTask(t, s, 0, nil, "g", 1, clock0)
	addTask(t, s, 1, nil, "g", 1, clock0)
	s.Next(clock0)
	now := clock0.Add(time.Minute)
	if got := s.Next(now); len(got) != 0 {
		t.Fatalf("assigned %v", got)
	}
	if w := s.Wake(now); !w.IsZero() && !w.After(now) {
		t.Fatalf("Wake() = %v, %v before now: a caller sleeping until then spins", w, now.Sub(w))
	}
}

// schedModel is a reference model of the scheduler's promises.
type schedModel struct {
	t       *testing.T
	s       *compute.Scheduler
	rng     *rand.Rand
	slots   map[string]int // every peer's slots
	present map[string]bool
	running map[string]int
	until   map[string]time.Time
	tasks   []*modelTask
	runs    []modelRun
	now     time.Time
}

type modelTask struct {
	holders             []string
	group               string
	want, done          int
	running, tried      map[string]bool
	complete, abandoned bool
}

type modelRun struct {
	task int
	peer string
}

func (m *modelTask) closed() bool { return m.complete || m.abandoned }

func (m *schedModel) usable(mt *modelTask, p string) bool {
	return m.present[p] && !mt.tried[p] && !mt.running[p]
}

func (m *schedModel) free(p string) bool {
	return m.present[p] && m.running[p] < m.slots[p] && !m.now.Before(m.until[p])
}

func (m *schedModel) peers() []compute.Peer {
	var ps []compute.Peer
	for p, ok := range m.present {
		if ok {
			ps = append(ps, compute.Peer{ID: p, Slots: m.slots[p], Free: max(0, m.slots[p]-m.running[p])})
		}
	}
	return ps
}

// next calls Next and checks every assignment against the model.
func (m *schedModel) next() {
	t := m.t
	for _, a := range m.s.Next(m.now) {
		mt := m.tasks[a.Task]
		switch {
		case mt.closed():
			t.Fatalf("%v: a run of a closed task", a)
		case !m.present[a.Peer]:
			t.Fatalf("%v: a run on a peer not listed", a)
		case m.now.Before(m.until[a.Peer]):
			t.Fatalf("%v: a run on a peer backing off until %v", a, m.until[a.Peer])
		case mt.running[a.Peer]:
			t.Fatalf("%v: two runs of one task on one peer", a)
		case mt.tried[a.Peer]:
			t.Fatalf("%v: a run on a peer that already ran or failed it", a)
		case mt.done+len(mt.running) >= mt.want:
			t.Fatalf("%v: a run beyond the %d wanted (%d done, %d running)", a, mt.want, mt.done, len(mt.running))
		case a.Local != slices.Contains(mt.holders, a.Peer):
			t.Fatalf("%v: local %v, holders %v", a, a.Local, mt.holders)
		}
		if !slices.Contains(m.s.Members(), a.Peer) {
			t.Fatalf("%v: a run outside the job's slice %v", a, m.s.Members())
		}
		mt.running[a.Peer] = true
		m.running[a.Peer]++
		if m.running[a.Peer] > m.slots[a.Peer] {
			t.Fatalf("%v: %d runs on a peer of %d slots", a, m.running[a.Peer], m.slots[a.Peer])
		}
		m.runs = append(m.runs, modelRun{a.Task, a.Peer})
	}
	// Whatever could start now in the job's slice did: no free member
	// has a task it holds waiting, and a task that may not wait has no
	// free member left. A task some listed peer may run has a member
	// that may run it (the slice grows at once for it).
	members := m.s.Members()
	if len(members) < min(3, len(m.peers())) {
		t.Fatalf("a slice of %d of %d peers", len(members), len(m.peers()))
	}
	for i, mt := range m.tasks {
		if mt.closed() || mt.done+len(mt.running) >= mt.want {
			continue
		}
		anyUsable, memberUsable := false, false
		for p := range m.present {
			if m.usable(mt, p) && m.slots[p] > 0 {
				anyUsable = true
				memberUsable = memberUsable || slices.Contains(members, p)
			}
		}
		if anyUsable && !memberUsable {
			t.Fatalf("task %d: a listed peer may run it, no member of the slice %v may", i, members)
		}
		waitsForHolder := false
		for _, h := range mt.holders {
			if m.usable(mt, h) {
				waitsForHolder = true // for Wait, whether in the slice or not
				if m.free(h) && slices.Contains(members, h) {
					t.Fatalf("task %d: its holder %s is free and idle", i, h)
				}
			}
		}
		if waitsForHolder {
			continue
		}
		for _, p := range members {
			if m.usable(mt, p) && m.free(p) {
				t.Fatalf("task %d wants a run and may not wait, but %s is free", i, p)
			}
		}
	}
}

// end ends run k.
func (m *schedModel) end(k int, end compute.RunEnd) {
	r := m.runs[k]
	m.runs = slices.Delete(m.runs, k, k+1)
	mt := m.tasks[r.task]
	m.s.Ended(r.task, r.peer, end, m.now)
	m.running[r.peer]--
	delete(mt.running, r.peer)
	if end != compute.RunDone {
		m.until[r.peer] = m.now.Add(schedBackoff)
	}
	if end != compute.RunBusy {
		mt.tried[r.peer] = true
	}
	if end == compute.RunDone {
		mt.done++
	}
}

// settle completes tasks that have their runs (or asks one more, as a
// disagreement does) and abandons those no peer can run any more, as the
// owner does.
func (m *schedModel) settle(raise float64) {
	for i, mt := range m.tasks {
		if mt.closed() {
			continue
		}
		if mt.done >= mt.want {
			if m.rng.Float64() < raise && mt.want < len(m.slots) {
				mt.want++
				m.s.Want(i, mt.want, m.now)
			} else {
				mt.complete = true
				m.s.Complete(i)
			}
			continue
		}
		cands := 0
		for p := range m.present {
			if m.usable(mt, p) {
				cands++
			}
		}
		if got := m.s.Candidates(i); got != cands {
			m.t.Fatalf("task %d: %d candidates, the model has %d", i, got, cands)
		}
		if cands == 0 && len(mt.running) == 0 {
			mt.abandoned = true
			m.s.Complete(i)
		}
	}
}

func TestSchedModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			m := &schedModel{t: t, rng: rng, s: compute.NewScheduler(compute.SchedConfig{Wait: schedWait, Backoff: schedBackoff}),
				slots: map[string]int{}, present: map[string]bool{}, running: map[string]int{}, until: map[string]time.Time{}, now: clock0}
			npeers := 4 + rng.IntN(8)
			var ids []string
			for i := range npeers {
				id := fmt.Sprintf("p%d", i)
				ids = append(ids, id)
				m.slots[id], m.present[id] = 1+rng.IntN(3), true
			}
			m.s.SetPeers(m.peers())
			const ntasks, chaosTasks = 400, 250
			added := 0
			addSome := func(n, limit int) {
				for ; n > 0 && added < limit; n-- {
					var hs []string
					for range rng.IntN(3) {
						if rng.IntN(5) == 0 {
							hs = append(hs, "offline")
						} else {
							hs = append(hs, ids[rng.IntN(len(ids))])
						}
					}
					mt := &modelTask{holders: hs, group: fmt.Sprint("g", rng.IntN(10)), want: 1 + rng.IntN(2),
						running: map[string]bool{}, tried: map[string]bool{}}
					m.tasks = append(m.tasks, mt)
					addTask(t, m.s, added, hs, mt.group, mt.want, m.now)
					added++
				}
			}
			// Chaos: tasks arrive, runs end every way, peers come and go.
			for step := 0; step < 2000; step++ {
				m.now = m.now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
				if rng.IntN(10) == 0 {
					addSome(rng.IntN(15), chaosTasks)
				}
				if rng.IntN(200) == 0 {
					p := ids[rng.IntN(len(ids))]
					m.present[p] = !m.present[p]
					m.s.SetPeers(m.peers())
				}
				m.next()
				for k := len(m.runs) - 1; k >= 0; k-- {
					if rng.IntN(4) != 0 {
						continue
					}
					switch x := rng.IntN(20); {
					case x < 2:
						m.end(k, compute.RunBusy)
					case x < 3:
						m.end(k, compute.RunFailed)
					default:
						m.end(k, compute.RunDone)
					}
				}
				m.settle(0.2)
			}
			// Calm: every peer back, every run answers; every task must
			// end, and those added now all complete.
			calm := added
			addSome(ntasks, ntasks)
			for _, id := range ids {
				m.present[id] = true
			}
			m.s.SetPeers(m.peers())
			steps := 0
			for ; ; steps++ {
				open := 0
				for _, mt := range m.tasks {
					if !mt.closed() {
						open++
					}
				}
				if open == 0 {
					break
				}
				if steps > 10000 {
					t.Fatalf("%d tasks still open after %d calm steps; backlog %d, %d running", open, steps, m.s.Backlog(), len(m.runs))
				}
				m.now = m.now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				m.next()
				for k := len(m.runs) - 1; k >= 0; k-- {
					if rng.IntN(2) == 0 {
						m.end(k, compute.RunDone)
					}
				}
				m.settle(0.05)
			}
			complete, abandoned := 0, 0
			for i, mt := range m.tasks {
				if mt.complete {
					complete++
				} else {
					abandoned++
					if i >= calm {
						t.Fatalf("task %d, added with every peer up, was abandoned", i)
					}
				}
			}
			m.next()
			if m.s.Backlog() != 0 || len(m.runs) != 0 {
				t.Fatalf("backlog %d, %d running with every task closed", m.s.Backlog(), len(m.runs))
			}
			t.Logf("%d peers: %d tasks complete, %d abandoned with no peer left; %d added calm, done in %d steps", npeers, complete, abandoned, ntasks-calm, steps)
			if complete == 0 {
				t.Fatal("nothing completed")
			}
		})
	}
}
