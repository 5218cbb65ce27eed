package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/murmur-cloud/murmur/erasure"
)

// Shards of at least Config.FileThreshold bytes are kept as files, one per
// shard, under Dir/blobs/<first hex digit of the ID>/<ID in hex>;
// smaller ones stay in badger's value log. A file is written with write(2)
// and made durable with fsync (the file, then its directory) before the
// shard's size record is committed: the record is what says the shard is
// held, so a file without one (a put cut short by a crash, or a deletion
// cut short between its commit and the unlink) is an orphan that Get never
// reads and Reclaim removes.
//
// Badger writes its value log through a shared memory map and makes it
// durable with msync: in a process that runs several nodes (murmur up,
// bench cluster) the page-table work of faulting in and cleaning the
// mapped pages cost about 3.5 ns per byte stored against 0.9 with
// write+fsync, and the mapped log counted against the process's resident
// memory.

// blobsDir is the directory of shard files inside Config.Dir.
const blobsDir = "blobs"

// The size record's value: uint32be size, then, for a shard kept as a
// file, the byte locFile. A record of 4 bytes is a shard in the value log
// (every shard that stores before files existed wrote).
const locFile = 1

func sizeRecord(n int, inFile bool) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	if inFile {
		b = append(b, locFile)
	}
	return b
}

func parseSizeRecord(id erasure.ShardID, v []byte) (n int, inFile bool, err error) {
	switch {
	case len(v) == 4:
	case len(v) == 5 && v[4] == locFile:
		inFile = true
	default:
		return 0, false, fmt.Errorf("badgerstore: malformed size record for %s", id.Short())
	}
	return int(binary.BigEndian.Uint32(v)), inFile, nil
}

// openBlobs makes the directory of shard files durably. Its 16
// subdirectories are made as puts need them: a million shards make 62,500
// files per directory, which ext4, XFS and btrfs index; more directories
// cost more at start (a mkdir here takes 0.2 ms of CPU, and every node of
// a fresh local cloud makes them all).
func (s *Store) openBlobs() error {
	if err := os.MkdirAll(filepath.Join(s.cfg.Dir, blobsDir), 0o700); err != nil {
		return err
	}
	return syncDir(s.cfg.Dir)
}

func (s *Store) blobPath(id erasure.ShardID) string {
	h := id.String()
	return filepath.Join(s.cfg.Dir, blobsDir, h[:1], h)
}

// writeBlob writes a shard's file and makes it durable. Any older file of
// the same ID is an orphan (its record is not committed, or the caller
// would not write) and is replaced.
func (s *Store) writeBlob(id erasure.ShardID, data []byte) error {
	path := s.blobPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// The first shard of its subdirectory: make it, durably.
		if err = os.Mkdir(filepath.Dir(path), 0o700); err == nil || errors.Is(err, fs.ErrExist) {
			if err = syncDir(filepath.Dir(filepath.Dir(path))); err == nil {
				f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("write shard file: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write shard file: %w", err)
	}
	return nil
}

// readBlob reads a shard's file, which its size record says is n bytes.
// A file missing (deleted since the record was read) is fs.ErrNotExist.
func (s *Store) readBlob(id erasure.ShardID, n int) ([]byte, error) {
	f, err := os.Open(s.blobPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("shard file %s shorter than its %d bytes: %w", id.Short(), n, err)
	}
	return b, nil
}

// removeBlob deletes a shard's file, if there is one.
func (s *Store) removeBlob(id erasure.ShardID) {
	if err := os.Remove(s.blobPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.cfg.Logger.Warn("badgerstore: shard file not removed", "shard", id.Short(), "err", err)
	}
}

// blobIDs calls fn with the ID of every shard file.
func (s *Store) blobIDs(fn func(erasure.ShardID) error) error {
	root := filepath.Join(s.cfg.Dir, blobsDir)
	for i := range 16 {
		names, err := readDirNames(filepath.Join(root, fmt.Sprintf("%x", i)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // no shard put there yet
		}
		if err != nil {
			return err
		}
		for _, name := range names {
			id, err := erasure.ParseShardID(name)
			if err != nil {
				continue // not ours
			}
			if err := fn(id); err != nil {
				return err
			}
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// syncDir fsyncs a directory, so the entries made in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
