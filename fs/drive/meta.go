package drive

import (
	"encoding/binary"
	"slices"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// meta is what the state directory remembers of the drive (docs/format.md,
// "Local state"):
//
//	version(1) = 2 | drive(32) | writer(16) | seq | gen | next | ref |
//	clean(1) | epoch | pending: present(1) [ref | gen | epoch]
type meta struct {
	Drive  crypt.DriveID
	Writer [16]byte // this state's mount: the writer ID of its lease
	Seq    uint64   // the newest root the state has seen
	Gen    uint64   // the commit the tree in the state directory is at
	Ref    []byte   // that commit's super reference
	Next   fs.Ino
	// Clean says the mount stopped cleanly. After a crash the local
	// blocks of uploaded contents are not trusted (the cache files were
	// never synced for them): they are fetched again.
	Clean bool
	// Epoch is the last change epoch commit Gen covers: an inode saved
	// with a later epoch has changes no commit holds yet.
	Epoch uint64
	// Pending is a commit about to be published: recorded, synced, before
	// its root goes out, so a crash between the two cannot leave the
	// state behind a root it published.
	Pending *intent
}

// intent is a commit whose root is being published.
type intent struct {
	Ref   []byte
	Gen   uint64
	Epoch uint64
}

const metaVersion = 2

func (m *meta) marshal() []byte {
	b := []byte{metaVersion}
	b = append(b, m.Drive[:]...)
	b = append(b, m.Writer[:]...)
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendUvarint(b, m.Gen)
	b = binary.AppendUvarint(b, uint64(m.Next))
	b = binary.AppendUvarint(b, uint64(len(m.Ref)))
	b = append(b, m.Ref...)
	b = append(b, boolByte(m.Clean))
	b = binary.AppendUvarint(b, m.Epoch)
	b = append(b, boolByte(m.Pending != nil))
	if p := m.Pending; p != nil {
		b = binary.AppendUvarint(b, uint64(len(p.Ref)))
		b = append(b, p.Ref...)
		b = binary.AppendUvarint(b, p.Gen)
		b = binary.AppendUvarint(b, p.Epoch)
	}
	return b
}

func readBool(r *wire.Reader) bool {
	b := r.Byte()
	if b > 1 {
		r.Fail("a flag of %d", b)
	}
	return b == 1
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// parseMeta decodes the drive's local metadata.
func parseMeta(b []byte) (*meta, error) {
	r := wire.NewReader(b, fs.ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != metaVersion {
		r.Fail("state version %d", v)
	}
	m := &meta{}
	copy(m.Drive[:], r.Bytes(len(m.Drive)))
	copy(m.Writer[:], r.Bytes(16))
	m.Seq, m.Gen = r.Uvarint(1<<63-1), r.Uvarint(1<<63-1)
	m.Next = fs.Ino(r.Uvarint(format.MaxIno))
	m.Ref = slices.Clone(r.LenBytes(MaxRootValue))
	m.Clean = readBool(r)
	m.Epoch = r.Uvarint(1<<63 - 1)
	if readBool(r) {
		m.Pending = &intent{Ref: slices.Clone(r.LenBytes(MaxRootValue))}
		m.Pending.Gen, m.Pending.Epoch = r.Uvarint(1<<63-1), r.Uvarint(1<<63-1)
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}
