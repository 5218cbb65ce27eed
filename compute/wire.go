package compute

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// The task protocol's messages (docs/compute.md, "Wire"). One run of a
// task is one stream: the owner sends a Task; the worker answers with a
// Need (for the module's bytes, or for the chunk's key, which it earns by
// proving the chunk's key nonce from its shard), the owner with a Module
// or a Grant, until the worker sends the Result. Every message starts
// with its type and the protocol version.

// ErrMalformed reports a task-protocol message that does not parse.
var ErrMalformed = errors.New("compute: malformed message")

// WireVersion is the task protocol's version.
const WireVersion = 1

// Message types.
const (
	msgTask   byte = 1
	msgModule byte = 2
	msgGrant  byte = 3
	msgNeed   byte = 4
	msgResult byte = 5
)

// Bounds of the task protocol.
const (
	MaxArgs      = 16
	MaxArgLen    = 4096
	MaxState     = 1 << 20                                       // a fold's state
	MaxModule    = 64 << 20                                      // a module's bytes
	MaxOutput    = 64 << 20                                      // a task's output
	MaxFragment  = 16 << 20                                      // a head or tail: at most a chunk
	MaxMessage   = 4096                                          // an error message
	MaxMemory    = 4 << 30                                       // a task's memory limit
	MaxDeadline  = time.Hour                                     // a run's: a worker's slot is not held longer
	maxFrameSize = MaxOutput + 2*MaxFragment + MaxMessage + 1024 // a result

	// Bounds of the other messages' frames, so a peer cannot make the
	// other side reserve a result's worth of memory with a task or need.
	maxTaskFrame   = MaxState + MaxArgs*(MaxArgLen+8) + 2*MaxArgLen + 1<<20
	maxModuleFrame = MaxModule + 16
	maxGrantFrame  = MaxMessage + 64
)

// Mode is how a task runs its module.
type Mode uint8

const (
	// ModeMap runs "map" over the whole lines of one chunk (Lines).
	ModeMap Mode = 1
	// ModeFold runs "fold" over one chunk of a file, given the state the
	// file's previous chunk left.
	ModeFold Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeMap:
		return "map"
	case ModeFold:
		return "fold"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Task is one run of a module over one chunk, as the owner sends it.
type Task struct {
	Job    JobID
	Index  int // the task's number in its job
	Module ModuleID
	Mode   Mode
	Args   []string // the module's arguments after the mode

	// A fold's file name, the state its previous chunk left (nil for
	// the first) and whether this is the file's last chunk.
	Name  string
	State []byte
	Final bool

	// First and Last say whether the chunk starts or ends its file
	// (Lines).
	First, Last bool

	// Where the sealed chunk lies: data shard Shard of Stripe, at Offset,
	// and the chunk itself (ID, plaintext size, stored length if
	// compressed).
	Stripe *erasure.Descriptor
	Shard  int
	Chunk  chunk.ID
	Size   int
	Offset int
	Stored int

	// Key is the chunk's key when it is known without its nonce (a keyed
	// chunk); otherwise zero, and the worker earns it with a proof of
	// the leaves that hold the key nonce, challenged with Nonce.
	Key   crypt.ObjectKey
	Nonce proof.Nonce

	// Limits of the run: its deadline, output and memory (bytes).
	DeadlineMillis int
	MaxOutput      int
	Memory         int64
}

// SealedSize is the sealed chunk's length in its shard.
func (t *Task) SealedSize() int {
	if t.Stored > 0 {
		return t.Stored
	}
	return t.Size + crypt.Overhead
}

// Need is a worker's request for what it lacks to run a task.
type Need struct {
	Module bool         // the module's bytes
	Proof  *proof.Proof // when not nil: the chunk's key, earned by this proof
}

// Grant answers a Need for the key: the key, or why it is refused.
type Grant struct {
	Key    crypt.ObjectKey
	Refuse string // non-empty: no key; the run ends
}

// Status is how a run ended.
type Status uint8

// The statuses of a Result. Those from StatusExit on are the module's own
// failures: deterministic, so replicas agree on them as on outputs, and
// an agreed one fails the job with its message.
const (
	StatusOK       Status = 1
	StatusBusy     Status = 2 // every slot taken: try elsewhere or later
	StatusNoShard  Status = 3 // the shard could not be had (nor rebuilt)
	StatusRefused  Status = 4 // the task is invalid, or its key was refused
	StatusInternal Status = 5 // anything else on the worker's side
	StatusExit     Status = 16
	StatusDeadline Status = 17
	StatusMemory   Status = 18
	StatusOutput   Status = 19
	StatusBadInput Status = 20 // the chunk does not open with its key
	StatusBadMod   Status = 21 // the module does not compile
)

var statusNames = map[Status]string{
	StatusOK: "ok", StatusBusy: "busy", StatusNoShard: "no shard", StatusRefused: "refused",
	StatusInternal: "internal error", StatusExit: "module exited with an error",
	StatusDeadline: "deadline exceeded", StatusMemory: "memory limit exceeded",
	StatusOutput: "output limit exceeded", StatusBadInput: "chunk does not open",
	StatusBadMod: "bad module",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ModuleFailure reports whether s is the module's own failure.
func (s Status) ModuleFailure() bool { return s >= StatusExit }

// Result is how a run ended, with its output.
type Result struct {
	Status  Status
	Code    int    // the exit code, for StatusExit
	Message string // what went wrong, for a human; not compared

	Output     []byte // the module's stdout
	Head, Tail []byte // Lines: the partial lines at the chunk's ends
	Continues  bool   // Lines: the chunk holds no line end: Head is all of it

	// Where the run read its chunk: its own store, or fetched (bytes).
	Local   bool
	Fetched int64
}

// Digest is what replicas must agree on: the status, exit code, output
// and fragments, not the message or where the input came from.
func (r *Result) Digest() [32]byte {
	h := sha256.New()
	var hdr [1 + 8 + 1]byte
	hdr[0] = byte(r.Status)
	binary.BigEndian.PutUint64(hdr[1:9], uint64(r.Code))
	if r.Continues {
		hdr[9] = 1
	}
	h.Write(hdr[:])
	for _, b := range [][]byte{r.Output, r.Head, r.Tail} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func readBool(r *wire.Reader) bool {
	switch r.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail("a flag is neither 0 nor 1")
	return false
}

func header(t byte) []byte { return []byte{t, WireVersion} }

func readHeader(b []byte, want byte) *wire.Reader {
	r := wire.NewReader(b, ErrMalformed)
	if t, v := r.Byte(), r.Byte(); r.Err() == nil && (t != want || v != WireVersion) {
		r.Fail("message type %d version %d, want type %d version %d", t, v, want, WireVersion)
	}
	return r
}

// messageType returns the type byte of an encoded message, 0 if empty.
func messageType(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// MarshalBinary encodes the task.
func (t *Task) MarshalBinary() ([]byte, error) {
	if t.Stripe == nil {
		return nil, fmt.Errorf("compute: task %d has no stripe", t.Index)
	}
	d, err := t.Stripe.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(t.Args) > MaxArgs || len(t.State) > MaxState || len(t.Name) > MaxArgLen {
		return nil, fmt.Errorf("compute: task %d exceeds the protocol's bounds", t.Index)
	}
	b := header(msgTask)
	b = append(b, t.Job[:]...)
	b = binary.AppendUvarint(b, uint64(t.Index))
	b = append(b, t.Module[:]...)
	b = append(b, byte(t.Mode))
	b = binary.AppendUvarint(b, uint64(len(t.Args)))
	for _, a := range t.Args {
		if len(a) > MaxArgLen {
			return nil, fmt.Errorf("compute: an argument of %d bytes", len(a))
		}
		b = appendBytes(b, []byte(a))
	}
	b = appendBytes(b, []byte(t.Name))
	b = appendBool(b, t.State != nil)
	b = appendBytes(b, t.State)
	b = appendBool(b, t.Final)
	b = appendBool(b, t.First)
	b = appendBool(b, t.Last)
	b = appendBytes(b, d)
	b = binary.AppendUvarint(b, uint64(t.Shard))
	b = append(b, t.Chunk[:]...)
	b = binary.AppendUvarint(b, uint64(t.Size))
	b = binary.AppendUvarint(b, uint64(t.Offset))
	b = binary.AppendUvarint(b, uint64(t.Stored))
	b = appendBool(b, !t.Key.IsZero())
	if !t.Key.IsZero() {
		if b, err = t.Key.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	b = append(b, t.Nonce[:]...)
	b = binary.AppendUvarint(b, uint64(t.DeadlineMillis))
	b = binary.AppendUvarint(b, uint64(t.MaxOutput))
	b = binary.AppendUvarint(b, uint64(t.Memory))
	return b, nil
}

// ParseTask decodes and checks a task: its stripe descriptor is valid and
// the chunk lies inside its data shard.
func ParseTask(b []byte) (*Task, error) {
	r := readHeader(b, msgTask)
	t := &Task{}
	copy(t.Job[:], r.Bytes(len(t.Job)))
	t.Index = r.Int(1 << 30)
	copy(t.Module[:], r.Bytes(len(t.Module)))
	t.Mode = Mode(r.Byte())
	n := r.Count(MaxArgs, 1)
	for range n {
		t.Args = append(t.Args, string(r.LenBytes(MaxArgLen)))
	}
	t.Name = string(r.LenBytes(MaxArgLen))
	hasState := readBool(r)
	state := r.LenBytes(MaxState)
	if hasState {
		t.State = append([]byte{}, state...)
	} else if len(state) > 0 {
		r.Fail("a state without its flag")
	}
	t.Final, t.First, t.Last = readBool(r), readBool(r), readBool(r)
	desc := r.LenBytes(1 << 20)
	t.Shard = r.Int(erasure.MaxShards)
	copy(t.Chunk[:], r.Bytes(len(t.Chunk)))
	t.Size = r.Int(erasure.MaxShardSize)
	t.Offset = r.Int(erasure.MaxShardSize)
	t.Stored = r.Int(erasure.MaxShardSize)
	if readBool(r) {
		k, err := crypt.ParseObjectKey(r.Bytes(crypt.ObjectKeyLen))
		if err != nil && r.Err() == nil {
			r.Fail("%v", err)
		}
		t.Key = k
	}
	copy(t.Nonce[:], r.Bytes(len(t.Nonce)))
	t.DeadlineMillis = r.Int(int(MaxDeadline / time.Millisecond))
	t.MaxOutput = r.Int(MaxOutput)
	t.Memory = int64(r.Uvarint(MaxMemory))
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if t.Mode != ModeMap && t.Mode != ModeFold {
		return nil, fmt.Errorf("%w: mode %d", ErrMalformed, t.Mode)
	}
	d, err := erasure.ParseDescriptor(desc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	t.Stripe = d
	switch {
	case t.Shard >= d.K:
		return nil, fmt.Errorf("%w: shard %d is not a data shard of k=%d", ErrMalformed, t.Shard, d.K)
	case t.Offset+t.SealedSize() > d.Shards[t.Shard].Size:
		return nil, fmt.Errorf("%w: the chunk (%d at %d) overruns its %d-byte shard", ErrMalformed, t.SealedSize(), t.Offset, d.Shards[t.Shard].Size)
	case t.Stored > 0 && t.Stored < crypt.Overhead:
		return nil, fmt.Errorf("%w: a stored length of %d", ErrMalformed, t.Stored)
	}
	return t, nil
}

// marshalModule encodes a module message: the module's bytes.
func marshalModule(wasm []byte) []byte { return appendBytes(header(msgModule), wasm) }

func parseModule(b []byte) ([]byte, error) {
	r := readHeader(b, msgModule)
	m := r.LenBytes(MaxModule)
	r.Done()
	return m, r.Err()
}

// MarshalBinary encodes the need.
func (n *Need) MarshalBinary() ([]byte, error) {
	b := header(msgNeed)
	b = appendBool(b, n.Module)
	b = appendBool(b, n.Proof != nil)
	if n.Proof != nil {
		p, err := n.Proof.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = appendBytes(b, p)
	}
	return b, nil
}

// ParseNeed decodes a need.
func ParseNeed(b []byte) (*Need, error) {
	r := readHeader(b, msgNeed)
	n := &Need{Module: readBool(r)}
	if readBool(r) {
		pb := r.LenBytes(MaxFragment)
		if r.Err() == nil {
			p, err := proof.ParseProof(pb)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			n.Proof = p
		}
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if !n.Module && n.Proof == nil {
		return nil, fmt.Errorf("%w: a need for nothing", ErrMalformed)
	}
	return n, nil
}

// MarshalBinary encodes the grant.
func (g *Grant) MarshalBinary() ([]byte, error) {
	b := header(msgGrant)
	if g.Refuse != "" {
		b = append(b, 0)
		return appendBytes(b, []byte(trim(g.Refuse))), nil
	}
	b = append(b, 1)
	return g.Key.AppendBinary(b)
}

// ParseGrant decodes a grant.
func ParseGrant(b []byte) (*Grant, error) {
	r := readHeader(b, msgGrant)
	g := &Grant{}
	if readBool(r) {
		k, err := crypt.ParseObjectKey(r.Bytes(crypt.ObjectKeyLen))
		if err != nil && r.Err() == nil {
			r.Fail("%v", err)
		}
		g.Key = k
	} else {
		g.Refuse = string(r.LenBytes(MaxMessage))
		if g.Refuse == "" && r.Err() == nil {
			r.Fail("a refusal without a reason")
		}
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return g, nil
}

func trim(s string) string {
	if len(s) > MaxMessage {
		return s[:MaxMessage]
	}
	return s
}

// MarshalBinary encodes the result.
func (r *Result) MarshalBinary() ([]byte, error) {
	if len(r.Output) > MaxOutput || len(r.Head) > MaxFragment || len(r.Tail) > MaxFragment {
		return nil, fmt.Errorf("compute: a result exceeds the protocol's bounds")
	}
	b := header(msgResult)
	b = append(b, byte(r.Status))
	b = binary.AppendUvarint(b, uint64(uint32(r.Code)))
	b = appendBytes(b, []byte(trim(r.Message)))
	b = appendBytes(b, r.Output)
	b = appendBytes(b, r.Head)
	b = appendBytes(b, r.Tail)
	b = appendBool(b, r.Continues)
	b = appendBool(b, r.Local)
	b = binary.AppendUvarint(b, uint64(r.Fetched))
	return b, nil
}

// ParseResult decodes a result.
func ParseResult(b []byte) (*Result, error) {
	rd := readHeader(b, msgResult)
	r := &Result{Status: Status(rd.Byte())}
	r.Code = rd.Int(1<<32 - 1)
	r.Message = string(rd.LenBytes(MaxMessage))
	r.Output = rd.LenBytes(MaxOutput)
	r.Head = rd.LenBytes(MaxFragment)
	r.Tail = rd.LenBytes(MaxFragment)
	r.Continues, r.Local = readBool(rd), readBool(rd)
	r.Fetched = int64(rd.Uvarint(1 << 50))
	rd.Done()
	if err := rd.Err(); err != nil {
		return nil, err
	}
	if _, ok := statusNames[r.Status]; !ok {
		return nil, fmt.Errorf("%w: status %d", ErrMalformed, r.Status)
	}
	return r, nil
}
