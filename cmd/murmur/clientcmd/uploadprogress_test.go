package clientcmd

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeUpload is an upload whose clock and progress a test moves.
type fakeUpload struct {
	now         time.Time
	done, total int64
	out         strings.Builder
}

func (f *fakeUpload) clock() time.Time          { return f.now }
func (f *fakeUpload) read() (done, total int64) { return f.done, f.total }

// step moves the clock by d and the upload by n bytes.
func (f *fakeUpload) step(d time.Duration, n int64) {
	f.now = f.now.Add(d)
	f.done += n
}

// TestUploadProgressTerminal: on a terminal the line is redrawn in place,
// at most every ttyEvery, with the rate over the last seconds and the
// time left; a stall is said; the last line ends the redrawing.
func TestUploadProgressTerminal(t *testing.T) {
	f := &fakeUpload{now: time.Unix(1e9, 0), total: 200 << 20}
	p := newUploadProgress(&f.out, true, f.clock, f.read)
	p.update()
	if got, want := f.out.String(), "\ruploading: 0 B of 200.0 MiB"; got != want {
		t.Fatalf("first line %q, want %q", got, want)
	}
	f.out.Reset()
	f.step(time.Second, 40<<20)
	p.update()
	if got, want := f.out.String(), "\ruploading: 40.0 MiB of 200.0 MiB, 40.0 MiB/s, 4s left"; got != want {
		t.Fatalf("after a second %q, want %q", got, want)
	}
	f.out.Reset()
	f.step(ttyEvery/2, 1<<20)
	p.update()
	if got := f.out.String(); got != "" {
		t.Fatalf("redrawn within %v: %q", ttyEvery, got)
	}
	// The rate is over the last rateWindow: it falls to nothing when the
	// upload stops.
	for range 40 {
		f.step(ttyEvery, 0)
		p.update()
	}
	if got := f.out.String(); !strings.HasSuffix(strings.TrimRight(got, " "), "uploading: 41.0 MiB of 200.0 MiB, stalled") {
		t.Fatalf("after a stall: %q", got)
	}
	f.out.Reset()
	f.step(time.Second, 159<<20)
	p.finish(nil)
	got := f.out.String()
	if !strings.HasPrefix(got, "\ruploaded 200.0 MiB in 10s (19.8 MiB/s)") || !strings.HasSuffix(got, " \n") {
		t.Fatalf("last line %q", got)
	}
	if len(got) != len("\ruploading: 41.0 MiB of 200.0 MiB, stalled\n") {
		t.Errorf("the last line %q does not cover the one before", got)
	}
}

// TestUploadProgressLog: elsewhere than on a terminal a line is printed
// at most every logEvery, each a line of its own; the last says where an
// upload that failed stopped.
func TestUploadProgressLog(t *testing.T) {
	f := &fakeUpload{now: time.Unix(1e9, 0), total: 100 << 20}
	p := newUploadProgress(&f.out, false, f.clock, f.read)
	for range 48 { // 12 s of updates every 250 ms, at 1 MiB/s
		p.update()
		f.step(250*time.Millisecond, 256<<10)
	}
	p.finish(errors.New("cloud unreachable"))
	lines := strings.Split(strings.TrimSuffix(f.out.String(), "\n"), "\n")
	want := []string{
		"uploading: 0 B of 100.0 MiB",
		"uploading: 5.0 MiB of 100.0 MiB, 1.0 MiB/s, 1m35s left",
		"uploading: 10.0 MiB of 100.0 MiB, 1.0 MiB/s, 1m30s left",
		"upload stopped at 12.0 MiB of 100.0 MiB",
	}
	if strings.Contains(f.out.String(), "\r") || strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", f.out.String(), strings.Join(want, "\n"))
	}
}
