package crypt

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the argon2id parameters that turn a passphrase into the
// key-encryption key of a KeyFile.
type KDFParams struct {
	Time      uint32 // passes over memory, 1..64
	MemoryKiB uint32 // memory in KiB, 8*Threads .. 4 GiB
	Threads   uint8  // lanes, 1..64
}

// DefaultKDF returns the second recommended argon2id option of RFC 9106
// (t=3, m=64 MiB, p=4): about a tenth of a second on a current machine.
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

// TestKDF returns a fast setting for tests only: it gives a passphrase almost no
// protection.
func TestKDF() KDFParams { return KDFParams{Time: 1, MemoryKiB: 64, Threads: 1} }

// Bounds of KDFParams. The memory bound keeps a forged key file from
// making Unlock allocate without limit.
const (
	maxKDFTime      = 64
	maxKDFThreads   = 64
	maxKDFMemoryKiB = 4 << 20 // 4 GiB
)

// Validate reports whether p is within bounds: Time 1..64, Threads 1..64,
// MemoryKiB from 8*Threads to 4 GiB.
func (p KDFParams) Validate() error {
	if msg := p.problem(); msg != "" {
		return fmt.Errorf("crypt: invalid KDF parameters: %s", msg)
	}
	return nil
}

// problem describes why p is out of bounds, or returns "".
func (p KDFParams) problem() string {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Sprintf("time %d is outside 1..%d", p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Sprintf("threads %d is outside 1..%d", p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Sprintf("memory %d KiB is outside %d..%d KiB", p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return ""
}

// key derives a 32-byte key-encryption key from passphrase and salt with
// argon2id. The caller has validated p.
func (p KDFParams) key(passphrase []byte, salt *[saltSize]byte) [32]byte {
	b := argon2.IDKey(passphrase, salt[:], p.Time, p.MemoryKiB, p.Threads, 32)
	var k [32]byte
	copy(k[:], b)
	clear(b)
	return k
}

// Key file layout; see docs/format.md.
const (
	keyFileMagic   = "MURMURKF"
	keyFileVersion = 1
	kdfArgon2id    = 1
	saltSize       = 16

	keyFileHeaderLen = len(keyFileMagic) + 1 + len(DriveID{}) + 1 + 4 + 4 + 1 + saltSize
	wrappedKeyLen    = len(MasterKey{}) + Overhead

	// KeyFileSize is the length of every marshaled key file.
	KeyFileSize = keyFileHeaderLen + wrappedKeyLen
)

// KeyFile holds a drive's master key wrapped under a key-encryption key
// derived from a passphrase with argon2id, so the passphrase can change
// without re-encrypting any data. The wrapped key authenticates the whole
// header (magic, version, drive ID, KDF parameters, salt): changing any of
// them makes Unlock fail. A KeyFile is not safe for concurrent mutation.
type KeyFile struct {
	Drive DriveID
	KDF   KDFParams
	Salt  [saltSize]byte

	wrapped []byte // a sealed object of PurposeKeyWrap, wrappedKeyLen bytes
}

// NewKeyFile wraps mk, the master key of drive, under passphrase with a
// fresh random salt. It returns an error if kdf does not validate.
func NewKeyFile(drive DriveID, mk MasterKey, passphrase []byte, kdf KDFParams) (*KeyFile, error) {
	var salt [saltSize]byte
	randomBytes(salt[:])
	var nonce [NonceSize]byte
	randomBytes(nonce[:])
	return newKeyFile(drive, mk, passphrase, kdf, salt, &nonce)
}

// newKeyFile is NewKeyFile with a caller-chosen salt and wrapping nonce;
// only NewKeyFile, ChangePassphrase and golden vector generation call it.
func newKeyFile(drive DriveID, mk MasterKey, passphrase []byte, kdf KDFParams, salt [saltSize]byte, nonce *[NonceSize]byte) (*KeyFile, error) {
	if err := kdf.Validate(); err != nil {
		return nil, err
	}
	kf := &KeyFile{Drive: drive, KDF: kdf, Salt: salt}
	s := kf.sealer(passphrase)
	kf.wrapped = s.sealWithNonce(make([]byte, 0, wrappedKeyLen), kf.header(), mk[:], nonce)
	clear(s.key[:])
	clear(mk[:])
	return kf, nil
}

// Unlock derives the key-encryption key from passphrase and unwraps the
// master key. A wrong passphrase, or a header or wrapped key that was
// changed, returns an error wrapping ErrWrongPassphrase; a KeyFile whose
// fields are out of bounds returns one wrapping ErrKeyFile, before any key
// derivation.
func (kf *KeyFile) Unlock(passphrase []byte) (MasterKey, error) {
	if err := kf.check(); err != nil {
		return MasterKey{}, err
	}
	s := kf.sealer(passphrase)
	var buf [len(MasterKey{})]byte
	pt, err := s.Open(buf[:0], kf.header(), kf.wrapped)
	clear(s.key[:])
	if err != nil {
		return MasterKey{}, fmt.Errorf("%w: drive %s", ErrWrongPassphrase, kf.Drive)
	}
	if len(pt) != len(MasterKey{}) {
		// Unreachable unless a writer wrapped something else under this
		// passphrase.
		clear(pt)
		return MasterKey{}, fmt.Errorf("%w: wrapped key is %d bytes", ErrKeyFile, len(pt))
	}
	mk := MasterKey(pt)
	clear(pt)
	return mk, nil
}

// ChangePassphrase re-wraps the master key under newPassphrase with a fresh
// salt and the parameters kdf, after unlocking it with oldPassphrase. The
// master key, and so all data, stays the same. On error kf is unchanged.
func (kf *KeyFile) ChangePassphrase(oldPassphrase, newPassphrase []byte, kdf KDFParams) error {
	if err := kdf.Validate(); err != nil {
		return err
	}
	mk, err := kf.Unlock(oldPassphrase)
	if err != nil {
		return err
	}
	nkf, err := NewKeyFile(kf.Drive, mk, newPassphrase, kdf)
	clear(mk[:])
	if err != nil {
		return err
	}
	*kf = *nkf
	return nil
}

// MarshalBinary returns the key file's bytes, KeyFileSize long. It fails,
// with an error wrapping ErrKeyFile, for a KeyFile not made by NewKeyFile or
// ParseKeyFile or whose KDF parameters are out of bounds.
func (kf *KeyFile) MarshalBinary() ([]byte, error) {
	if err := kf.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, KeyFileSize)
	b = kf.appendHeader(b)
	return append(b, kf.wrapped...), nil
}

// ParseKeyFile parses a key file made by MarshalBinary. Bad magic, an
// unknown version or KDF, a wrong length or KDF parameters out of bounds
// return an error wrapping ErrKeyFile. It never panics and allocates only
// a fixed amount; the passphrase is checked later, by Unlock.
func ParseKeyFile(b []byte) (*KeyFile, error) {
	if len(b) != KeyFileSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKeyFile, len(b), KeyFileSize)
	}
	if string(b[:len(keyFileMagic)]) != keyFileMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrKeyFile, b[:len(keyFileMagic)])
	}
	r := b[len(keyFileMagic):]
	if r[0] != keyFileVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrKeyFile, r[0])
	}
	r = r[1:]
	kf := &KeyFile{}
	r = r[copy(kf.Drive[:], r):]
	if r[0] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown KDF %d", ErrKeyFile, r[0])
	}
	kf.KDF.Time = binary.BigEndian.Uint32(r[1:])
	kf.KDF.MemoryKiB = binary.BigEndian.Uint32(r[5:])
	kf.KDF.Threads = r[9]
	r = r[10:]
	if msg := kf.KDF.problem(); msg != "" {
		return nil, fmt.Errorf("%w: KDF parameters: %s", ErrKeyFile, msg)
	}
	r = r[copy(kf.Salt[:], r):]
	if r[0] != Version {
		return nil, fmt.Errorf("%w: wrapped key has unknown version %d", ErrKeyFile, r[0])
	}
	kf.wrapped = bytes.Clone(r)
	return kf, nil
}

// check reports whether kf can be unlocked or marshaled.
func (kf *KeyFile) check() error {
	if len(kf.wrapped) != wrappedKeyLen {
		return fmt.Errorf("%w: no wrapped key (make key files with NewKeyFile or ParseKeyFile)", ErrKeyFile)
	}
	if msg := kf.KDF.problem(); msg != "" {
		return fmt.Errorf("%w: KDF parameters: %s", ErrKeyFile, msg)
	}
	return nil
}

// sealer returns the key-wrap Sealer under the key-encryption key derived
// from passphrase. The caller clears its key when done.
func (kf *KeyFile) sealer(passphrase []byte) *Sealer {
	kek := kf.KDF.key(passphrase, &kf.Salt)
	s := NewSealer(kek, kf.Drive, PurposeKeyWrap)
	clear(kek[:])
	return s
}

// header returns the key file's header: every byte before the wrapped key.
// It is the identity the wrapped key is sealed under.
func (kf *KeyFile) header() []byte {
	return kf.appendHeader(make([]byte, 0, keyFileHeaderLen))
}

func (kf *KeyFile) appendHeader(b []byte) []byte {
	b = append(b, keyFileMagic...)
	b = append(b, keyFileVersion)
	b = append(b, kf.Drive[:]...)
	b = append(b, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, kf.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, kf.KDF.MemoryKiB)
	b = append(b, kf.KDF.Threads)
	return append(b, kf.Salt[:]...)
}
