package crypt

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
)

// HKDF infos of the subkeys that are not sealer keys. A sealer key's info
// is hkdfInfoPrefix + Purpose.String().
const (
	hkdfInfoPrefix = "murmur v1 "
	infoChunkID    = hkdfInfoPrefix + "chunk-id"
	infoObjectID   = hkdfInfoPrefix + "object-id"
	infoNameMAC    = hkdfInfoPrefix + "name-mac"
	infoNameEnc    = hkdfInfoPrefix + "name-enc"
	infoSigning    = hkdfInfoPrefix + "signing"
	numPurposes    = int(PurposeKeyWrap)
	subkeySize     = 32
)

// Keys are the subkeys of one drive, derived from its master key with
// HKDF-SHA256 (salt = the drive ID, info = "murmur v1 " + a name; see
// docs/format.md). Keys are immutable and safe for concurrent use.
// They never hold the master key itself.
type Keys struct {
	drive    DriveID
	chunkID  [32]byte
	objectID [32]byte
	sealers  [numPurposes]*Sealer // index Purpose-1
	names    *NameCipher
	signing  ed25519.PrivateKey
	boxPub   [32]byte
	boxPriv  [32]byte
}

// Keys derives the subkeys of drive from mk.
func (mk MasterKey) Keys(drive DriveID) *Keys {
	prk, err := hkdf.Extract(sha256.New, mk[:], drive[:])
	if err != nil {
		panic("crypt: hkdf: " + err.Error()) // unreachable: Extract fails only in FIPS mode for short keys
	}
	defer clear(prk)
	k := &Keys{drive: drive}
	k.chunkID = expand(prk, infoChunkID)
	k.objectID = expand(prk, infoObjectID)
	for i := range k.sealers {
		p := Purpose(i + 1)
		k.sealers[i] = NewSealer(expand(prk, hkdfInfoPrefix+p.String()), drive, p)
	}
	k.names = newNameCipher(expand(prk, infoNameMAC), expand(prk, infoNameEnc))
	seed := expand(prk, infoSigning)
	k.signing = ed25519.NewKeyFromSeed(seed[:])
	clear(seed[:])
	k.boxPub, k.boxPriv = boxKeys(prk)
	return k
}

// expand returns the 32-byte HKDF-Expand of prk for info.
func expand(prk []byte, info string) [32]byte {
	b, err := hkdf.Expand(sha256.New, prk, info, subkeySize)
	if err != nil {
		panic("crypt: hkdf: " + err.Error()) // unreachable: 32 bytes is far below the limit
	}
	var k [32]byte
	copy(k[:], b)
	clear(b)
	return k
}

// Drive returns the drive the keys belong to.
func (k *Keys) Drive() DriveID { return k.drive }

// ChunkIDKey returns the key for chunk IDs (keyed BLAKE3 of a chunk's
// plaintext, computed by package chunk), so peers cannot confirm a guessed
// file by its chunk IDs.
func (k *Keys) ChunkIDKey() [32]byte { return k.chunkID }

// ObjectIDKey returns the key for the IDs of manifest and directory
// objects.
func (k *Keys) ObjectIDKey() [32]byte { return k.objectID }

// Sealer returns the Sealer for objects of purpose p. Each purpose has its
// own subkey: PurposeChunk seals content, the others metadata. Sealer
// panics if p is not a defined Purpose.
func (k *Keys) Sealer(p Purpose) *Sealer {
	p.mustValid()
	return k.sealers[p-1]
}

// Names returns the drive's file-name cipher.
func (k *Keys) Names() *NameCipher { return k.names }

// SigningKey returns a copy of the drive's Ed25519 signing key, whose seed
// is the HKDF subkey "murmur v1 signing". Prefer SignRoot, which adds the
// domain separation.
func (k *Keys) SigningKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), k.signing...)
}

// PublicKey returns a copy of the drive's Ed25519 public key.
func (k *Keys) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), k.signing.Public().(ed25519.PublicKey)...)
}

// String describes the keys without revealing them.
func (k *Keys) String() string { return "crypt.Keys{" + k.drive.String() + "}" }

// GoString describes the keys without revealing them.
func (k *Keys) GoString() string { return k.String() }
