package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/murmur-cloud/murmur/erasure"
)

// Mem is a ShardStore in memory, with an optional capacity. The zero value
// is not usable; call NewMem.
type Mem struct {
	capacity int64 // bytes; 0 means unlimited

	mu     sync.RWMutex
	shards map[erasure.ShardID][]byte
	used   int64
}

// NewMem returns an empty in-memory store holding at most capacity bytes
// of shards (0: no limit).
func NewMem(capacity int64) *Mem {
	return &Mem{capacity: capacity, shards: make(map[erasure.ShardID][]byte)}
}

var _ ShardStore = (*Mem)(nil)

// Get implements ShardGetter.
func (s *Mem) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	b, ok := s.shards[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("get %s: %w", id.Short(), ErrNotFound)
	}
	return bytes.Clone(b), nil
}

// Put implements ShardPutter.
func (s *Mem) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckPut(id, data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.shards[id]; ok {
		return nil
	}
	if s.capacity > 0 && s.used+int64(len(data)) > s.capacity {
		return fmt.Errorf("put %s (%d bytes, %d of %d used): %w", id.Short(), len(data), s.used, s.capacity, ErrFull)
	}
	s.shards[id] = bytes.Clone(data)
	s.used += int64(len(data))
	return nil
}

// Has implements ShardStatter.
func (s *Mem) Has(ctx context.Context, ids []erasure.ShardID) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(ids))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, id := range ids {
		_, out[i] = s.shards[id]
	}
	return out, nil
}

// Delete implements ShardDeleter.
func (s *Mem) Delete(ctx context.Context, id erasure.ShardID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.shards[id]; ok {
		s.used -= int64(len(b))
		delete(s.shards, id)
	}
	return nil
}

// Walk implements ShardWalker. It lists a snapshot taken when it starts, so
// fn may call other methods of the store.
func (s *Mem) Walk(ctx context.Context, fn func(id erasure.ShardID, size int) error) error {
	type entry struct {
		id   erasure.ShardID
		size int
	}
	s.mu.RLock()
	list := make([]entry, 0, len(s.shards))
	for id, b := range s.shards {
		list = append(list, entry{id, len(b)})
	}
	s.mu.RUnlock()
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.id, e.size); err != nil {
			return err
		}
	}
	return nil
}

// Used returns the bytes of shards held.
func (s *Mem) Used() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.used
}

// Corrupt replaces the stored bytes of id with bad bytes of the same
// length, as a failing disk or a lying peer would. It exists so tests of
// the layers above can exercise their verification; it reports whether
// the shard was held.
func (s *Mem) Corrupt(id erasure.ShardID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.shards[id]
	if !ok {
		return false
	}
	if len(b) == 0 {
		s.shards[id] = []byte{0}
		return true
	}
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0xff
	s.shards[id] = b
	return true
}
