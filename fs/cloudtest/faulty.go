package cloudtest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/store"
)

// ErrInjected is the error of a call a Faulty cloud made fail.
var ErrInjected = errors.New("cloudtest: injected fault")

// Op names a kind of call to a Cloud, for a Fault.
type Op int

// The calls a Fault can hit. OpGet covers Get and GetHinted, OpPut Put
// and PutStripe.
const (
	OpPut Op = iota
	OpGet
	OpPublish
	OpLookup
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpGet:
		return "get"
	case OpPublish:
		return "publish"
	case OpLookup:
		return "lookup"
	}
	return fmt.Sprintf("op%d", int(o))
}

// Fault makes calls of one kind fail, as a cloud that cannot be reached
// for a moment does: the first Skip calls of Op from when it is injected
// go through, then the next Times fail (Times < 0: every one from then
// on). A Lost fault makes the call and then fails it, as an answer lost
// on its way back does: a publish that took effect, a put that stored.
type Fault struct {
	Op    Op
	Skip  int
	Times int
	Lost  bool
}

// Faulty is a drive.Cloud that passes every call to another but the ones
// its faults make fail, with ErrInjected. Renew and Space are never made
// to fail. It is safe for concurrent use; with no faults it is the cloud
// it wraps, held to the same suite (Run).
type Faulty struct {
	drive.Cloud

	mu     sync.Mutex
	faults []*Fault
	hits   int
}

var _ drive.Cloud = (*Faulty)(nil)

// NewFaulty wraps c.
func NewFaulty(c drive.Cloud) *Faulty { return &Faulty{Cloud: c} }

// Inject adds a fault.
func (f *Faulty) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &ft)
}

// Clear removes every fault.
func (f *Faulty) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Hits returns how many calls the faults made fail so far.
func (f *Faulty) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// Pending reports whether a fault is still to make a call fail.
func (f *Faulty) Pending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.Times != 0 {
			return true
		}
	}
	return false
}

// hit reports whether this call of op fails, and whether it is made
// first (a lost answer).
func (f *Faulty) hit(op Op) (fail, lost bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.Op != op || ft.Times == 0 {
			continue
		}
		if ft.Skip > 0 {
			ft.Skip--
			continue
		}
		if ft.Times > 0 {
			ft.Times--
		}
		f.hits++
		return true, ft.Lost
	}
	return false, false
}

// call runs do unless a fault of op fails it first.
func (f *Faulty) call(op Op, do func() error) error {
	fail, lost := f.hit(op)
	if !fail {
		return do()
	}
	if lost {
		if err := do(); err != nil {
			return err
		}
		return fmt.Errorf("%w: the answer to a %s was lost", ErrInjected, op)
	}
	return fmt.Errorf("%w: a %s failed", ErrInjected, op)
}

// Put implements store.ShardPutter.
func (f *Faulty) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	return f.call(OpPut, func() error { return f.Cloud.Put(ctx, id, b) })
}

// PutStripe implements store.StripePutter.
func (f *Faulty) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	var h []store.Holder
	err := f.call(OpPut, func() (err error) {
		h, err = f.Cloud.PutStripe(ctx, d, shards)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Get implements store.ShardGetter.
func (f *Faulty) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	var b []byte
	err := f.call(OpGet, func() (err error) {
		b, err = f.Cloud.Get(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// GetHinted implements store.HintedGetter.
func (f *Faulty) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	var b []byte
	err := f.call(OpGet, func() (err error) {
		b, err = f.Cloud.GetHinted(ctx, id, hints)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// PublishRoot implements drive.Cloud.
func (f *Faulty) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	return f.call(OpPublish, func() error { return f.Cloud.PublishRoot(ctx, keys, seq, value) })
}

// LookupRoot implements drive.Cloud.
func (f *Faulty) LookupRoot(ctx context.Context, pub ed25519.PublicKey) (uint64, []byte, error) {
	var seq uint64
	var v []byte
	err := f.call(OpLookup, func() (err error) {
		seq, v, err = f.Cloud.LookupRoot(ctx, pub)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return seq, v, nil
}

// Release passes to the wrapped cloud's Release (Faulty never makes it
// fail); a cloud that cannot release says so.
func (f *Faulty) Release(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	rel, ok := f.Cloud.(interface {
		Release(context.Context, []erasure.ShardID, []store.Holder) error
	})
	if !ok {
		return errors.New("cloudtest: the wrapped cloud cannot release")
	}
	return rel.Release(ctx, ids, hints)
}
