package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrDamaged reports a journal file that is not one: a bad header, or a
// frame the format forbids where no crash could have left it.
var ErrDamaged = errors.New("journal: damaged")

// ErrClosed reports use of a closed Log.
var ErrClosed = errors.New("journal: closed")

const (
	magic      = "MURMURJ"
	version    = 1
	headerLen  = len(magic) + 1
	frameHead  = 9 // length(4) | flags(1) | crc(4)
	flagMore   = 1
	opSet      = 1
	opDelete   = 2
	maxKeyLen  = 1 << 10
	maxValue   = 1 << 30
	framePart  = 8 << 20 // a batch is cut into frames of about this many bytes
	maxPayload = maxValue + 2*framePart
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure a Log.
type Options struct {
	// CompactAt is the least number of bytes no longer live that makes a
	// Write compact the file. Zero: 64 MiB.
	CompactAt int64
	// Logger hears of dropped torn or damaged tails and of compactions.
	// Nil: nothing is logged.
	Logger *slog.Logger
	// Synced, if not nil, is called with the file's path after each Sync:
	// what it holds then survives a crash of the machine. A test's model
	// of such a crash keeps what the file held at its last Sync (a
	// compaction, which rewrites the same values, is not told of: the
	// model keeps the older file, as if the rename had not reached the
	// disk).
	Synced func(path string)
}

// place is where a live value lies in the file.
type place struct {
	off int64
	n   int
}

// Log is an open journal file.
type Log struct {
	path string
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	f     *os.File
	size  int64 // end of the last whole batch: where the next one goes
	index map[string]place
	live  int64 // bytes of live keys and values
	err   error // a failure that left the file in doubt: every later Write fails
	// retryAt is the size past which a failed compaction is tried again.
	retryAt int64
}

// Open opens the journal at path, making it if it does not exist, and
// replays it. A tail that holds no whole batch (a crash in the middle of
// a Write) is cut off; one that is damaged beyond a torn write is also
// copied aside to path.damaged-TIME first, and logged, so nothing is lost
// without a trace.
func Open(path string, o Options) (*Log, error) {
	if o.CompactAt <= 0 {
		o.CompactAt = 64 << 20
	}
	l := &Log{path: path, opts: o, log: o.Logger, index: map[string]place{}}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	os.Remove(path + ".compact") // a compaction a crash cut short
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	l.f = f
	if err := l.replay(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// replay reads the file, fills the index and cuts a bad tail.
func (l *Log) replay() error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if fi.Size() < int64(headerLen) {
		// New, or a crash before the header reached the disk: nothing
		// was ever written to it.
		if err := l.f.Truncate(0); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		if _, err := l.f.WriteAt(header(), 0); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		l.size = int64(headerLen)
		return nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(l.f, 0, fi.Size()), 1<<20)
	h := make([]byte, headerLen)
	if _, err := io.ReadFull(r, h); err != nil {
		return fmt.Errorf("journal: %s: %w", l.path, err)
	}
	if string(h[:len(magic)]) != magic || h[len(magic)] != version {
		return fmt.Errorf("%w: %s is not a journal of version %d", ErrDamaged, l.path, version)
	}
	res := scan(r, int64(headerLen), fi.Size(), func(key string, p place, del bool) { l.apply(key, p, del) })
	l.size = res.good
	if res.good < fi.Size() {
		if res.damaged && fi.Size()-res.good > res.badLen {
			l.saveAside(res.good, fi.Size())
		}
		l.log.Warn("journal: dropped the tail a crash cut short", "file", l.path, "at", res.good, "bytes", fi.Size()-res.good, "why", res.why)
		if err := l.f.Truncate(res.good); err != nil {
			return fmt.Errorf("journal: cut the tail of %s: %w", l.path, err)
		}
	}
	return nil
}

// scanResult is what a scan of frames found: the end of the last whole
// batch, and why it stopped before the end of the input.
type scanResult struct {
	good    int64
	damaged bool   // a frame failed its checksum or did not parse
	badLen  int64  // how many bytes the bad frame claimed
	why     string // empty at a clean end
}

// scan reads frames from r, which starts at offset off of a file of end
// bytes, and calls apply for every operation of every whole batch, in
// order. It never allocates more than a frame's length, and never more
// than the file holds: a header claiming more than is left is either a
// torn write (what follows it is the start of its operations) or damage
// (a length field gone bad), and only the bytes there are read to tell.
func scan(r *bufio.Reader, off, end int64, apply func(key string, p place, del bool)) scanResult {
	type op struct {
		key string
		p   place
		del bool
	}
	var pending []op
	res := scanResult{good: off}
	pos := off
	head := make([]byte, frameHead)
	var payload []byte
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			if err != io.EOF {
				res.why = "a torn frame header"
			} else if len(pending) > 0 {
				res.why = "a batch without its last frame"
			}
			return res
		}
		n := binary.LittleEndian.Uint32(head)
		flags := head[4]
		if n > maxPayload || flags&^flagMore != 0 {
			res.damaged, res.badLen, res.why = true, frameHead, fmt.Sprintf("a frame header claiming %d bytes and flags %#x", n, flags)
			return res
		}
		if left := end - pos - frameHead; int64(n) > left {
			// Less than the frame is there: a crash cut its write short,
			// or the length is wrong. The bytes left are read (no more
			// than the file holds) to tell.
			payload = slices.Grow(payload[:0], int(max(left, 0)))[:max(left, 0)]
			if _, err := io.ReadFull(r, payload); err != nil || !parseOps(payload, true, nil) {
				res.damaged, res.badLen = true, frameHead
				res.why = fmt.Sprintf("a frame header claiming %d bytes where %d are left, and no torn write's", n, left)
				return res
			}
			res.why = "a torn frame"
			return res
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			res.why = "a torn frame"
			return res
		}
		crc := crc32.Update(crc32.Checksum(head[:5], castagnoli), castagnoli, payload)
		if crc != binary.LittleEndian.Uint32(head[5:]) {
			res.damaged, res.badLen, res.why = true, int64(frameHead)+int64(n), "a frame whose checksum fails"
			return res
		}
		base := pos + frameHead
		ok := parseOps(payload, false, func(key []byte, at, vlen int, del bool) {
			pending = append(pending, op{string(key), place{base + int64(at), vlen}, del})
		})
		if !ok {
			res.damaged, res.badLen, res.why = true, int64(frameHead)+int64(n), "a frame whose operations do not parse"
			return res
		}
		pos = base + int64(n)
		if flags&flagMore == 0 {
			for _, o := range pending {
				apply(o.key, o.p, o.del)
			}
			pending = pending[:0]
			res.good = pos
		}
	}
}

// parseOps calls fn (if not nil) for each operation of a frame's
// payload, with the value's offset and length within it; it reports false
// if the payload does not parse. With prefix, b may end inside an
// operation, as the bytes of a torn write do.
func parseOps(b []byte, prefix bool, fn func(key []byte, at, vlen int, del bool)) bool {
	if fn == nil {
		fn = func([]byte, int, int, bool) {}
	}
	i := 0
	for i < len(b) {
		kind := b[i]
		i++
		if kind != opSet && kind != opDelete {
			return false
		}
		kl, n := binary.Uvarint(b[i:])
		if prefix && (n == 0 || (n > 0 && kl > 0 && kl <= maxKeyLen && uint64(len(b)-i-n) < kl)) {
			return true // cut inside the key's length or the key
		}
		if n <= 0 || kl == 0 || kl > maxKeyLen || uint64(len(b)-i-n) < kl {
			return false
		}
		i += n
		key := b[i : i+int(kl)]
		i += int(kl)
		switch kind {
		case opDelete:
			fn(key, 0, 0, true)
		case opSet:
			vl, n := binary.Uvarint(b[i:])
			if prefix && (n == 0 || (n > 0 && vl <= maxValue && uint64(len(b)-i-n) < vl)) {
				return true // cut inside the value's length or the value
			}
			if n <= 0 || vl > maxValue || uint64(len(b)-i-n) < vl {
				return false
			}
			i += n
			fn(key, i, int(vl), false)
			i += int(vl)
		default:
			return false
		}
	}
	return true
}

func (l *Log) apply(key string, p place, del bool) {
	if old, ok := l.index[key]; ok {
		l.live -= int64(len(key) + old.n)
		delete(l.index, key)
	}
	if !del {
		l.index[key] = p
		l.live += int64(len(key) + p.n)
	}
}

// saveAside copies the bytes [from, to) of the file to a file beside it.
func (l *Log) saveAside(from, to int64) {
	name := fmt.Sprintf("%s.damaged-%d", l.path, time.Now().UnixNano())
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = io.Copy(out, io.NewSectionReader(l.f, from, to-from))
		err = errors.Join(err, out.Sync(), out.Close())
	}
	if err != nil {
		l.log.Error("journal: could not keep a damaged tail", "file", l.path, "err", err)
		return
	}
	l.log.Error("journal: a damaged tail is kept aside", "file", l.path, "at", from, "bytes", to-from, "kept", name)
}

func header() []byte { return append([]byte(magic), version) }

// Batch is a set of changes a Write applies together. Values are not
// copied: the caller must not change them until Write returns. Later
// changes of a key in one batch win over earlier ones.
type Batch struct {
	ops  []batchOp
	size int
}

type batchOp struct {
	key   string
	value []byte
	del   bool
}

// Set records that key is to hold value.
func (b *Batch) Set(key string, value []byte) {
	b.ops = append(b.ops, batchOp{key: key, value: value})
	b.size += len(key) + len(value)
}

// Delete records that key is to hold nothing.
func (b *Batch) Delete(key string) {
	b.ops = append(b.ops, batchOp{key: key, del: true})
	b.size += len(key)
}

// Len returns the number of changes in b.
func (b *Batch) Len() int { return len(b.ops) }

// Bytes returns about how many bytes b's keys and values hold.
func (b *Batch) Bytes() int { return b.size }

// Reset empties b for reuse.
func (b *Batch) Reset() { b.ops, b.size = b.ops[:0], 0 }

// Write appends b as one batch: after it returns, a reopen of the file
// finds all of b or, had the process crashed during it, none of it. An
// empty batch writes nothing. A failed Write leaves the file as it was
// before it; if even that cannot be made sure, the Log refuses every
// later Write.
func (l *Log) Write(b *Batch) error {
	for _, o := range b.ops {
		if len(o.key) == 0 || len(o.key) > maxKeyLen {
			return fmt.Errorf("journal: key of %d bytes", len(o.key))
		}
		if len(o.value) > maxValue {
			return fmt.Errorf("journal: value of %d bytes, past %d", len(o.value), maxValue)
		}
	}
	if len(b.ops) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	type applied struct {
		key string
		p   place
		del bool
	}
	done := make([]applied, 0, len(b.ops))
	pos := l.size
	err := writeFrames(l.f, pos, b.ops, func(i int, p place) {
		done = append(done, applied{b.ops[i].key, p, b.ops[i].del})
	}, &pos)
	if err != nil {
		l.undo()
		return fmt.Errorf("journal: write %s: %w", l.path, err)
	}
	for _, a := range done {
		l.apply(a.key, a.p, a.del)
	}
	l.size = pos
	if garbage := l.size - int64(headerLen) - l.live; garbage > l.opts.CompactAt && garbage > l.live && l.size >= l.retryAt {
		if err := l.compact(); err != nil {
			l.retryAt = l.size + l.opts.CompactAt
			l.log.Error("journal: compaction failed; it is tried again once the file has grown", "file", l.path, "err", err)
		}
	}
	return nil
}

// undo cuts whatever a failed Write left past the last whole batch.
func (l *Log) undo() {
	if err := l.f.Truncate(l.size); err != nil {
		l.err = fmt.Errorf("journal: %s may hold a part of a failed write: %w", l.path, err)
	}
}

func (l *Log) usable() error {
	if l.f == nil {
		return ErrClosed
	}
	return l.err
}

// writeFrames writes ops as frames at *pos of f, calling placed with each
// op's index and the place of its value, and advances *pos.
func writeFrames(f *os.File, start int64, ops []batchOp, placed func(i int, p place), pos *int64) error {
	buf := make([]byte, frameHead, min(framePart, 64<<10)+frameHead)
	at := start
	flush := func(last bool) error {
		n := len(buf) - frameHead
		binary.LittleEndian.PutUint32(buf, uint32(n))
		buf[4] = 0
		if !last {
			buf[4] = flagMore
		}
		crc := crc32.Update(crc32.Checksum(buf[:5], castagnoli), castagnoli, buf[frameHead:])
		binary.LittleEndian.PutUint32(buf[5:], crc)
		if _, err := f.WriteAt(buf, at); err != nil {
			return err
		}
		at += int64(len(buf))
		buf = buf[:frameHead]
		return nil
	}
	for i, o := range ops {
		if len(buf) > frameHead && len(buf)-frameHead+len(o.key)+len(o.value)+2*binary.MaxVarintLen64 > framePart {
			if err := flush(false); err != nil {
				return err
			}
		}
		if o.del {
			buf = append(buf, opDelete)
			buf = binary.AppendUvarint(buf, uint64(len(o.key)))
			buf = append(buf, o.key...)
			placed(i, place{})
			continue
		}
		buf = append(buf, opSet)
		buf = binary.AppendUvarint(buf, uint64(len(o.key)))
		buf = append(buf, o.key...)
		buf = binary.AppendUvarint(buf, uint64(len(o.value)))
		placed(i, place{at + int64(len(buf)), len(o.value)})
		buf = append(buf, o.value...)
	}
	if err := flush(true); err != nil {
		return err
	}
	*pos = at
	return nil
}

// Sync makes every batch written so far survive a crash of the machine.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if err := unix.Fdatasync(int(l.f.Fd())); err != nil {
		return fmt.Errorf("journal: sync %s: %w", l.path, err)
	}
	l.synced()
	return nil
}

func (l *Log) synced() {
	if l.opts.Synced != nil {
		l.opts.Synced(l.path)
	}
}

// Get returns a copy of key's value, and whether it has one.
func (l *Log) Get(key string) ([]byte, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil, false, ErrClosed
	}
	p, ok := l.index[key]
	if !ok {
		return nil, false, nil
	}
	v := make([]byte, p.n)
	if _, err := l.f.ReadAt(v, p.off); err != nil {
		return nil, false, fmt.Errorf("journal: read %s: %w", l.path, err)
	}
	return v, true, nil
}

// Load calls fn for every key of prefix that holds a value, in key order,
// with the value, which fn must copy to keep. An error from fn stops it.
func (l *Log) Load(prefix string, fn func(key string, value []byte) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrClosed
	}
	var keys []string
	for k := range l.index {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var buf []byte
	for _, k := range keys {
		p := l.index[k]
		buf = slices.Grow(buf[:0], p.n)[:p.n]
		if _, err := l.f.ReadAt(buf, p.off); err != nil {
			return fmt.Errorf("journal: read %s: %w", l.path, err)
		}
		if err := fn(k, buf); err != nil {
			return err
		}
	}
	return nil
}

// Keys returns the number of keys holding a value.
func (l *Log) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.index)
}

// Size returns the file's length and the bytes in it that are live.
func (l *Log) Size() (size, live int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size, l.live
}

// Compact rewrites the file with only its live values, now.
func (l *Log) Compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.compact()
}

// compact copies the live values into a new file, syncs it and renames it
// over the old one. The caller holds mu. On failure the old file stays.
func (l *Log) compact() error {
	start := time.Now()
	tmp := l.path + ".compact"
	out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := out.WriteAt(header(), 0); err != nil {
		return fail(err)
	}
	keys := slices.Sorted(maps.Keys(l.index))
	index := make(map[string]place, len(keys))
	pos := int64(headerLen)
	// Copy in runs of about framePart bytes, each run one batch of its
	// own: every prefix of the new file is a valid journal, and only the
	// rename makes it the journal.
	for len(keys) > 0 {
		var ops []batchOp
		n := 0
		for len(keys) > 0 && (n == 0 || n+l.index[keys[0]].n <= framePart) {
			k := keys[0]
			keys = keys[1:]
			p := l.index[k]
			v := make([]byte, p.n)
			if _, err := l.f.ReadAt(v, p.off); err != nil {
				return fail(err)
			}
			ops = append(ops, batchOp{key: k, value: v})
			n += p.n
		}
		err := writeFrames(out, pos, ops, func(i int, p place) { index[ops[i].key] = p }, &pos)
		if err != nil {
			return fail(err)
		}
	}
	if err := unix.Fdatasync(int(out.Fd())); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		// The rename happened: the new file is the journal.
		l.log.Warn("journal: sync the folder after compaction", "err", err)
	}
	old := l.f
	l.f, l.size, l.index = out, pos, index
	old.Close()
	l.log.Info("journal: compacted", "file", l.path, "live", l.live, "took", time.Since(start))
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close closes the file. It does not sync it.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
