package clientcmd

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"golang.org/x/term"
)

const (
	// ttyEvery is how often the progress line is redrawn on a terminal,
	// logEvery how often a new one is printed elsewhere (a log, a pipe).
	ttyEvery = 200 * time.Millisecond
	logEvery = 5 * time.Second
	// rateWindow is how far back the rate is measured: long enough to be
	// steady, short enough to show a stall.
	rateWindow = 5 * time.Second
)

// uploadProgress shows an upload as a line like "uploading: 12.3 MiB of
// 190.7 MiB, 41.0 MiB/s, 4s left". On a terminal the line is redrawn in
// place every ttyEvery; elsewhere a line is printed at most every
// logEvery. Not safe for concurrent use.
type uploadProgress struct {
	out  io.Writer
	tty  bool
	now  func() time.Time
	read func() (done, total int64)

	start   time.Time
	first   int64        // done at start
	samples []progSample // of the last rateWindow, oldest first
	drawn   time.Time    // when the last line was drawn; zero: never
	width   int          // the length of the line drawn on a terminal
}

// progSample is what was done at a time.
type progSample struct {
	at   time.Time
	done int64
}

// newUploadProgress returns a progress line on out, a terminal if tty,
// reading the time from now and the bytes done and in all from read.
func newUploadProgress(out io.Writer, tty bool, now func() time.Time, read func() (done, total int64)) *uploadProgress {
	p := &uploadProgress{out: out, tty: tty, now: now, read: read, start: now()}
	p.first, _ = p.sample()
	return p
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// sample reads the progress and records it for the rate.
func (p *uploadProgress) sample() (done, total int64) {
	done, total = p.read()
	done = min(max(done, 0), max(total, 0))
	now := p.now()
	p.samples = append(p.samples, progSample{now, done})
	keep := 0
	for keep < len(p.samples)-2 && now.Sub(p.samples[keep+1].at) >= rateWindow {
		keep++
	}
	p.samples = p.samples[keep:]
	return done, total
}

// rate is bytes a second over the samples kept; 0 before there are two.
func (p *uploadProgress) rate() float64 {
	first, last := p.samples[0], p.samples[len(p.samples)-1]
	secs := last.at.Sub(first.at).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(last.done-first.done) / secs
}

// update reads the progress, and draws it when a line is due.
func (p *uploadProgress) update() {
	done, total := p.sample()
	every := logEvery
	if p.tty {
		every = ttyEvery
	}
	now := p.now()
	if !p.drawn.IsZero() && now.Sub(p.drawn) < every {
		return
	}
	p.drawn = now
	p.draw(p.line(done, total), false)
}

// line is the progress line for done bytes of total.
func (p *uploadProgress) line(done, total int64) string {
	if total <= 0 {
		return "uploading pending changes"
	}
	s := fmt.Sprintf("uploading: %s of %s", cli.HumanBytes(done), cli.HumanBytes(total))
	switch r := p.rate(); {
	case r > 0:
		left := time.Duration(float64(total-done) / r * float64(time.Second))
		s += fmt.Sprintf(", %s/s, %s left", cli.HumanBytes(int64(r)), roughDuration(left))
	case p.now().Sub(p.samples[0].at) >= rateWindow/2:
		s += ", stalled"
	}
	return s
}

// finish draws the last line: what was uploaded in how long, or, after
// err, where it stopped.
func (p *uploadProgress) finish(err error) {
	done, total := p.sample()
	var s string
	switch took := p.now().Sub(p.start); {
	case err != nil:
		s = fmt.Sprintf("upload stopped at %s of %s", cli.HumanBytes(done), cli.HumanBytes(total))
	case total <= 0:
		s = fmt.Sprintf("uploaded pending changes in %s", roughDuration(took))
	default:
		s = fmt.Sprintf("uploaded %s in %s", cli.HumanBytes(done-p.first), roughDuration(took))
		if secs := took.Seconds(); secs > 0 {
			s += fmt.Sprintf(" (%s/s)", cli.HumanBytes(int64(float64(done-p.first)/secs)))
		}
	}
	p.draw(s, true)
}

// draw shows s: on a terminal over the line drawn before, and ended by a
// newline if last; elsewhere as a line of its own.
func (p *uploadProgress) draw(s string, last bool) {
	if !p.tty {
		fmt.Fprintln(p.out, s)
		return
	}
	pad := max(p.width-len(s), 0)
	p.width = len(s)
	end := ""
	if last {
		end = "\n"
	}
	fmt.Fprintf(p.out, "\r%s%s%s", s, strings.Repeat(" ", pad), end)
}

// follow updates the line every ttyEvery until done yields the upload's
// result, then finishes it and returns that result.
func (p *uploadProgress) follow(done <-chan error) error {
	tick := time.NewTicker(ttyEvery)
	defer tick.Stop()
	p.update()
	for {
		select {
		case err := <-done:
			p.finish(err)
			return err
		case <-tick.C:
			p.update()
		}
	}
}

// roughDuration is d to the second ("4s", "1m20s"), or to the
// millisecond under a second.
func roughDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
