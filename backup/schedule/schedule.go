// Package schedule decides when scheduled backups run: at times of day
// or every so long, again after a failure with a growing delay (never
// past the next regular run), and at once after a start that missed a
// run. It is a state machine driven by a clock the caller passes in: the
// node runs it on the wall clock, tests on any clock they like.
package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSpec reports a schedule that does not parse.
var ErrSpec = errors.New("schedule: bad schedule")

// Spec is when a backup runs: at each of At (times of day, local, from
// midnight), or, when At is empty, Every after the last start.
type Spec struct {
	At    []time.Duration
	Every time.Duration
}

// ParseSpec reads "02:00", "02:00,14:30", "daily 02:00" or "every 6h".
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutPrefix(s, "every "); ok {
		every, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || every < time.Minute {
			return Spec{}, fmt.Errorf("%w: %q: every needs a duration of a minute at least (every 6h)", ErrSpec, s)
		}
		return Spec{Every: every}, nil
	}
	s = strings.TrimSpace(strings.TrimPrefix(s, "daily "))
	var sp Spec
	for _, t := range strings.Split(s, ",") {
		h, m, ok := strings.Cut(strings.TrimSpace(t), ":")
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || len(m) != 2 {
			return Spec{}, fmt.Errorf("%w: %q: give times of day as HH:MM (02:00, or 02:00,14:30), or every DURATION", ErrSpec, s)
		}
		sp.At = append(sp.At, time.Duration(hh)*time.Hour+time.Duration(mm)*time.Minute)
	}
	slices.Sort(sp.At)
	sp.At = slices.Compact(sp.At)
	return sp, nil
}

// String is the spec as ParseSpec reads it.
func (s Spec) String() string {
	if len(s.At) == 0 {
		return "every " + s.Every.String()
	}
	var ts []string
	for _, a := range s.At {
		ts = append(ts, fmt.Sprintf("%02d:%02d", int(a.Hours()), int(a.Minutes())%60))
	}
	return "daily " + strings.Join(ts, ",")
}

// Next returns the first run strictly after t, in t's location. A time
// of day that a DST change skips runs when the clock says it is past.
func (s Spec) Next(t time.Time) time.Time {
	if len(s.At) == 0 {
		return t.Add(s.Every)
	}
	y, mo, d := t.Date()
	for day := 0; day < 3; day++ {
		for _, a := range s.At {
			h, m := int(a.Hours()), int(a.Minutes())%60
			at := time.Date(y, mo, d+day, h, m, 0, 0, t.Location())
			if at.After(t) {
				return at
			}
		}
	}
	return t.Add(24 * time.Hour) // unreachable: some time of the next days is after t
}

// State is one scheduled backup's, as the node keeps it across restarts.
type State struct {
	LastStart    time.Time `json:"last_start,omitzero"`
	LastEnd      time.Time `json:"last_end,omitzero"`
	LastOK       time.Time `json:"last_ok,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastSnapshot string    `json:"last_snapshot,omitempty"`
	Failures     int       `json:"failures"` // failed attempts since the last success
	Next         time.Time `json:"next"`
	Running      bool      `json:"running"`
}

// Retry bounds the delays before another attempt after a failure: Min
// after the first, doubling, at most Max, and never past the next
// regular run.
type Retry struct{ Min, Max time.Duration }

// DefaultRetry retries after 1 minute, then 2, 4, ... up to an hour.
var DefaultRetry = Retry{Min: time.Minute, Max: time.Hour}

func (r Retry) delay(failures int) time.Duration {
	d := r.Min
	for i := 1; i < failures && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// Scheduler decides when each named backup runs.
type Scheduler struct {
	retry Retry
	specs map[string]Spec
	st    map[string]*State
}

// New returns a scheduler of specs, resuming the states saved (nil:
// none). A backup whose last start is before the run its spec had due
// since is due at once: it missed that run while the node was down.
func New(specs map[string]Spec, saved map[string]State, retry Retry, now time.Time) *Scheduler {
	s := &Scheduler{retry: retry, specs: specs, st: map[string]*State{}}
	for name, sp := range specs {
		st := saved[name]
		st.Running = false
		switch {
		case st.LastStart.IsZero():
			st.Next = sp.Next(now)
		case st.Failures > 0:
			st.Next = earliest(st.LastEnd.Add(retry.delay(st.Failures)), sp.Next(st.LastStart))
		default:
			st.Next = sp.Next(st.LastStart)
		}
		if st.Next.Before(now) {
			st.Next = now
		}
		s.st[name] = &st
	}
	return s
}

// Due returns the backups to start now, by name, sorted.
func (s *Scheduler) Due(now time.Time) []string {
	var out []string
	for name, st := range s.st {
		if !st.Running && !st.Next.After(now) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Started records that name started at now.
func (s *Scheduler) Started(name string, now time.Time) {
	if st := s.st[name]; st != nil {
		st.Running, st.LastStart = true, now
	}
}

// Finished records how name's run ended: its snapshot, or err. A
// success runs next at the spec's next run after the start; a failure
// again after the retry delay, or at the next regular run if that comes
// first.
func (s *Scheduler) Finished(name string, now time.Time, snapshot string, err error) {
	st := s.st[name]
	if st == nil {
		return
	}
	sp := s.specs[name]
	st.Running, st.LastEnd = false, now
	regular := sp.Next(st.LastStart)
	if !regular.After(now) {
		regular = sp.Next(now) // the run took longer than the period
	}
	if err == nil {
		st.LastOK, st.LastError, st.LastSnapshot, st.Failures = now, "", snapshot, 0
		st.Next = regular
		return
	}
	st.Failures++
	st.LastError = err.Error()
	st.Next = earliest(now.Add(s.retry.delay(st.Failures)), regular)
}

// NextWake is the earliest time a backup not running is due; zero if
// none is.
func (s *Scheduler) NextWake() time.Time {
	var t time.Time
	for _, st := range s.st {
		if !st.Running && (t.IsZero() || st.Next.Before(t)) {
			t = st.Next
		}
	}
	return t
}

// States returns a copy of every backup's state, by name.
func (s *Scheduler) States() map[string]State {
	out := make(map[string]State, len(s.st))
	for name, st := range s.st {
		out[name] = *st
	}
	return out
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
