package compute

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/pipeline"
)

// ChunkKeys derives the keys of an input's chunks. The owner asks for a
// chunk's key only once a peer has proved the chunk's key nonce against
// the stripe's record (nonce is nil for a keyed chunk, whose reference
// carries its key).
type ChunkKeys interface {
	ChunkKey(ctx context.Context, c pipeline.ChunkRef, nonce []byte) (crypt.ObjectKey, error)
}

// ConfigKeys derives chunk keys from keys held in this process: the keys
// of the files `murmur put` stored, which the node holds.
type ConfigKeys struct{ Config pipeline.Config }

// ChunkKey implements ChunkKeys.
func (k ConfigKeys) ChunkKey(_ context.Context, c pipeline.ChunkRef, nonce []byte) (crypt.ObjectKey, error) {
	return pipeline.ChunkKey(k.Config, c, nonce)
}

// ErrKeysGone: the keys of a job's input are no longer being answered
// (the client that holds its drive's keys went away).
var ErrKeysGone = errors.New("compute: the keys of the job's input went away with its client")

// KeyRequest is one chunk key the owner needs from the holder of a drive's
// keys: the chunk's proved key nonce, or a keyed chunk's own key.
type KeyRequest struct {
	Seq   uint64
	Nonce []byte   // crypt.KeyNonceLen bytes; nil for a keyed chunk
	Keyed [32]byte // a keyed chunk's key
}

// KeyBroker is the ChunkKeys of inputs whose keys the owner does not
// hold: the files of a drive, whose keys stay in the client that
// unlocked it (`murmur job run --drive`). Each key asked for waits in a
// queue until the client takes it (Next) and answers it (Answer); keys are
// cached for the job, so a chunk's key is asked for once. A client that
// goes away closes the broker, and every wait fails with ErrKeysGone.
type KeyBroker struct {
	mu      sync.Mutex
	seq     uint64
	queue   []KeyRequest
	waits   map[uint64]*keyWait
	byNonce map[string]*keyWait
	wake    chan struct{} // closed and replaced when the queue grows
	err     error         // set by Close
}

type keyWait struct {
	done chan struct{}
	key  crypt.ObjectKey
	err  error
}

// NewKeyBroker returns an open broker.
func NewKeyBroker() *KeyBroker {
	return &KeyBroker{waits: map[uint64]*keyWait{}, byNonce: map[string]*keyWait{}, wake: make(chan struct{})}
}

// ChunkKey implements ChunkKeys: it waits for the client's answer.
func (b *KeyBroker) ChunkKey(ctx context.Context, c pipeline.ChunkRef, nonce []byte) (crypt.ObjectKey, error) {
	if !c.Keyed() && len(nonce) != crypt.KeyNonceLen {
		return crypt.ObjectKey{}, fmt.Errorf("compute: a key nonce of %d bytes", len(nonce))
	}
	id := string(nonce)
	if c.Keyed() {
		id = "k" + string(c.Key[:])
	}
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return crypt.ObjectKey{}, b.err
	}
	w := b.byNonce[id]
	if w == nil {
		b.seq++
		r := KeyRequest{Seq: b.seq}
		if c.Keyed() {
			r.Keyed = c.Key
		} else {
			r.Nonce = append([]byte(nil), nonce...)
		}
		w = &keyWait{done: make(chan struct{})}
		b.waits[r.Seq], b.byNonce[id] = w, w
		b.queue = append(b.queue, r)
		close(b.wake)
		b.wake = make(chan struct{})
	}
	b.mu.Unlock()
	select {
	case <-w.done:
		return w.key, w.err
	case <-ctx.Done():
		return crypt.ObjectKey{}, ctx.Err()
	}
}

// Next waits until key requests are queued and takes them all; it fails
// when ctx ends or the broker is closed.
func (b *KeyBroker) Next(ctx context.Context) ([]KeyRequest, error) {
	for {
		b.mu.Lock()
		if b.err != nil {
			b.mu.Unlock()
			return nil, b.err
		}
		if len(b.queue) > 0 {
			q := b.queue
			b.queue = nil
			b.mu.Unlock()
			return q, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Answer answers request seq with its key, or with the client's error.
// An answer to nothing asked, or asked and answered, is an error.
func (b *KeyBroker) Answer(seq uint64, key crypt.ObjectKey, err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.waits[seq]
	if w == nil {
		return fmt.Errorf("compute: no key request %d is waiting", seq)
	}
	delete(b.waits, seq)
	w.key, w.err = key, err
	if err != nil {
		w.err = fmt.Errorf("compute: the client could not derive a chunk key: %w", err)
	}
	close(w.done)
	return nil
}

// Close fails every wait, present and future, with err (ErrKeysGone if
// nil). Answered keys stay cached for waits already done.
func (b *KeyBroker) Close(err error) {
	if err == nil {
		err = ErrKeysGone
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	b.err = err
	for seq, w := range b.waits {
		w.err = err
		close(w.done)
		delete(b.waits, seq)
	}
	b.queue = nil
	close(b.wake)
}
