package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
)

const (
	// sealLabel prefixes the HMAC input that derives a per-object key.
	sealLabel = "murmur/seal/v1"

	// adLabel starts the associated data of every seal.
	adLabel = "murmur"

	// adPrefixLen is the length of the associated data before the id.
	adPrefixLen = len(adLabel) + 1 + 1 + len(DriveID{}) + 2

	// MaxIDLen is the longest object identity Seal and Open accept; its
	// length is encoded as a uint16 in the associated data.
	MaxIDLen = 1<<16 - 1

	// headerLen is the version byte plus the nonce.
	headerLen = 1 + NonceSize

	// gcmNonceOffset is where, within the 24-byte nonce, the 12-byte GCM
	// nonce starts; the bytes before it select the per-object key.
	gcmNonceOffset = NonceSize - 12
)

// Sealer seals and opens the objects of one purpose of one drive with
// AES-256-GCM under a per-object key (see the package documentation and
// docs/format.md). A Sealer is immutable and safe for concurrent use;
// it caches nothing per object. Use it by pointer; do not copy it.
type Sealer struct {
	key     [32]byte
	drive   DriveID
	purpose Purpose

	// scratch holds *sealScratch: per-call working buffers, reused so a
	// seal allocates only the AES and GCM state. They keep nothing of an
	// object between calls.
	scratch sync.Pool
}

// sealScratch is the working state of one Seal or Open call.
type sealScratch struct {
	mac       hash.Hash                             // HMAC-SHA256 keyed by the Sealer's key
	kdfInput  [len(sealLabel) + gcmNonceOffset]byte // sealLabel || N[0:12]
	objectKey [sha256.Size]byte
	ad        []byte
}

// NewSealer returns a Sealer for objects of purpose p of drive, keyed by
// key. Drives get their Sealers from Keys.Sealer; NewSealer is for key
// wrapping, tests and tools. It panics if p is not a defined Purpose.
func NewSealer(key [32]byte, drive DriveID, p Purpose) *Sealer {
	p.mustValid()
	return &Sealer{key: key, drive: drive, purpose: p}
}

// Purpose returns the purpose the Sealer seals for.
func (s *Sealer) Purpose() Purpose { return s.purpose }

// Drive returns the drive the Sealer seals for.
func (s *Sealer) Drive() DriveID { return s.drive }

// String describes the Sealer without its key.
func (s *Sealer) String() string {
	return "crypt.Sealer{" + s.purpose.String() + " " + s.drive.String() + "}"
}

// GoString describes the Sealer without its key.
func (s *Sealer) GoString() string { return s.String() }

// Seal appends the sealed form of plaintext to dst and returns the updated
// slice; the sealed form is len(plaintext)+Overhead bytes long. id is the
// object's identity (for a chunk, its chunk ID): it is authenticated, not
// stored, together with Version, the purpose and the drive ID, so the
// object opens only under the same id, purpose and drive.
//
// Every call draws a fresh random 24-byte nonce. dst and plaintext must not
// overlap. Seal panics if id is longer than MaxIDLen bytes or plaintext is
// longer than AES-GCM allows (64 GiB); both are programming errors.
func (s *Sealer) Seal(dst, id, plaintext []byte) []byte {
	ret, out := sliceForAppend(dst, len(plaintext)+Overhead)
	randomBytes(out[1:headerLen])
	s.seal(out, id, plaintext)
	return ret
}

// sealWithNonce is Seal with a caller-chosen nonce. Only golden-vector
// generation and key files made with a fixed nonce in tests may use it: a
// repeated nonce under one key breaks confidentiality and authenticity.
func (s *Sealer) sealWithNonce(dst, id, plaintext []byte, nonce *[NonceSize]byte) []byte {
	ret, out := sliceForAppend(dst, len(plaintext)+Overhead)
	copy(out[1:headerLen], nonce[:])
	s.seal(out, id, plaintext)
	return ret
}

// seal fills out, len(plaintext)+Overhead bytes whose nonce is already in
// place, with the sealed form of plaintext.
func (s *Sealer) seal(out, id, plaintext []byte) {
	if len(id) > MaxIDLen {
		panic(fmt.Sprintf("crypt: seal %s object: id is %d bytes, longer than %d", s.purpose, len(id), MaxIDLen))
	}
	out[0] = Version
	nonce := out[1:headerLen]
	sc := s.getScratch()
	aead := sc.objectAEAD(nonce)
	sc.ad = s.appendAD(sc.ad[:0], id)
	aead.Seal(out[headerLen:headerLen], nonce[gcmNonceOffset:], plaintext, sc.ad)
	s.putScratch(sc)
}

// Open authenticates sealed as an object with identity id and appends its
// plaintext to dst, returning the updated slice. Any failure — tampering,
// truncation, garbage, an unknown version, another key, drive, purpose or
// id — returns nil and an error wrapping ErrAuth; Open never panics on its
// input. dst and sealed must not overlap.
func (s *Sealer) Open(dst, id, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: open %s object: %d bytes, shorter than the %d-byte overhead",
			ErrAuth, s.purpose, len(sealed), Overhead)
	}
	if sealed[0] != Version {
		return nil, fmt.Errorf("%w: open %s object: unknown version %d", ErrAuth, s.purpose, sealed[0])
	}
	if len(id) > MaxIDLen {
		return nil, fmt.Errorf("%w: open %s object: id is %d bytes, longer than %d",
			ErrAuth, s.purpose, len(id), MaxIDLen)
	}
	nonce := sealed[1:headerLen]
	sc := s.getScratch()
	aead := sc.objectAEAD(nonce)
	sc.ad = s.appendAD(sc.ad[:0], id)
	out, err := aead.Open(dst, nonce[gcmNonceOffset:], sealed[headerLen:], sc.ad)
	s.putScratch(sc)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s object", ErrAuth, s.purpose)
	}
	return out, nil
}

func (s *Sealer) getScratch() *sealScratch {
	if sc, ok := s.scratch.Get().(*sealScratch); ok {
		return sc
	}
	sc := &sealScratch{
		mac: hmac.New(sha256.New, s.key[:]),
		ad:  make([]byte, 0, adPrefixLen+64),
	}
	copy(sc.kdfInput[:], sealLabel)
	return sc
}

func (s *Sealer) putScratch(sc *sealScratch) {
	if cap(sc.ad) > adPrefixLen+1024 {
		sc.ad = make([]byte, 0, adPrefixLen+64) // do not keep a rare huge id's buffer
	}
	s.scratch.Put(sc)
}

// objectAEAD returns AES-256-GCM under the per-object key
// HMAC-SHA256(key, sealLabel || nonce[:12]).
func (sc *sealScratch) objectAEAD(nonce []byte) cipher.AEAD {
	copy(sc.kdfInput[len(sealLabel):], nonce[:gcmNonceOffset])
	sc.mac.Reset()
	sc.mac.Write(sc.kdfInput[:])
	sc.mac.Sum(sc.objectKey[:0])
	aead := newAESGCM(sc.objectKey[:])
	clear(sc.objectKey[:])
	return aead
}

// appendAD appends the associated data
// "murmur" || Version || purpose || drive || uint16be(len(id)) || id
// to b. The caller has checked len(id) <= MaxIDLen.
func (s *Sealer) appendAD(b, id []byte) []byte {
	b = append(b, adLabel...)
	b = append(b, Version, byte(s.purpose))
	b = append(b, s.drive[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
	return append(b, id...)
}

// newAESGCM returns AES-256-GCM with the standard 12-byte nonce under a
// 32-byte key.
func newAESGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("crypt: " + err.Error()) // unreachable: the key is always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("crypt: " + err.Error()) // unreachable: AES has 16-byte blocks
	}
	return aead
}

// sliceForAppend extends in by n bytes, reallocating if needed, and returns
// the extended slice and its last n bytes (as in crypto/cipher).
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}
