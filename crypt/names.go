package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

const (
	// nameLabel prefixes the MAC input of a name ciphertext.
	nameLabel = "murmur/name/v1"

	// nameTagSize is the length of the synthetic IV that starts a name
	// ciphertext.
	nameTagSize = 16

	// nameBucket is the padding granularity: a peer learns a name's length
	// only to within this many bytes.
	nameBucket = 32

	// maxNameCiphertext is the length of the ciphertext of a name of
	// MaxNameLen bytes, the longest there is.
	maxNameCiphertext = nameTagSize + (MaxNameLen/nameBucket+1)*nameBucket
)

// NameCipher encrypts file names deterministically per directory, so a
// directory can be searched by the encrypted name, with a synthetic IV:
// the IV is a MAC of the directory and the padded name, and it is checked
// on decryption. The same name in the same directory always encrypts to the
// same bytes; in another directory, to different bytes. Names are padded so
// a peer learns only the length rounded up to 32 bytes. The layout is in
// docs/format.md. A NameCipher is immutable and safe for concurrent
// use.
type NameCipher struct {
	macKey [32]byte
	encKey [32]byte
}

func newNameCipher(macKey, encKey [32]byte) *NameCipher {
	return &NameCipher{macKey: macKey, encKey: encKey}
}

// String describes the NameCipher without its keys.
func (n *NameCipher) String() string { return "crypt.NameCipher{}" }

// GoString describes the NameCipher without its keys.
func (n *NameCipher) GoString() string { return n.String() }

// Encrypt returns the ciphertext of name as an entry of the directory
// identified by dir (any stable identity, at most MaxIDLen bytes); the
// caller owns it. It is 16 + 32*ceil((len(name)+1)/32) bytes long, at most
// 272. Encrypt returns an error wrapping ErrNameTooLong if name is longer
// than MaxNameLen bytes, and one wrapping ErrBadName if name is empty,
// "." or "..", or contains '/' or NUL.
func (n *NameCipher) Encrypt(dir []byte, name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(dir) > MaxIDLen {
		return nil, fmt.Errorf("crypt: encrypt name: directory id is %d bytes, longer than %d", len(dir), MaxIDLen)
	}
	out := make([]byte, nameTagSize+paddedNameLen(len(name)))
	tag, padded := out[:nameTagSize], out[nameTagSize:]
	copy(padded, name)
	padded[len(name)] = 0x80
	n.tag(tag, dir, padded)
	n.ctr(tag).XORKeyStream(padded, padded)
	return out, nil
}

// Decrypt returns the name whose ciphertext, made by Encrypt for the same
// dir, is ct. Any tampering, truncation or garbage, or a ciphertext made
// for another directory or drive, returns an error wrapping ErrAuth; it
// never panics.
func (n *NameCipher) Decrypt(dir []byte, ct []byte) (string, error) {
	body := len(ct) - nameTagSize
	if body < nameBucket || body%nameBucket != 0 || len(ct) > maxNameCiphertext {
		return "", fmt.Errorf("%w: decrypt name: ciphertext length %d is not a name bucket", ErrAuth, len(ct))
	}
	if len(dir) > MaxIDLen {
		return "", fmt.Errorf("%w: decrypt name: directory id is %d bytes, longer than %d", ErrAuth, len(dir), MaxIDLen)
	}
	tag := ct[:nameTagSize]
	padded := make([]byte, body)
	n.ctr(tag).XORKeyStream(padded, ct[nameTagSize:])
	var want [nameTagSize]byte
	n.tag(want[:], dir, padded)
	if !hmac.Equal(want[:], tag) {
		return "", fmt.Errorf("%w: decrypt name", ErrAuth)
	}
	// Authenticated: the padding below was made by a holder of the key, so
	// a failure here means a broken writer, not an attacker.
	end := len(padded) - 1
	for end >= 0 && padded[end] == 0 {
		end--
	}
	if end < 0 || padded[end] != 0x80 || paddedNameLen(end) != len(padded) {
		return "", fmt.Errorf("%w: decrypt name: bad padding", ErrAuth)
	}
	name := string(padded[:end])
	if err := checkName(name); err != nil {
		return "", err
	}
	return name, nil
}

// EncryptString is Encrypt with the ciphertext in unpadded base64url
// (base64.RawURLEncoding), for places that need text.
func (n *NameCipher) EncryptString(dir []byte, name string) (string, error) {
	ct, err := n.Encrypt(dir, name)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// DecryptString is Decrypt for a ciphertext made by EncryptString. Text
// that is not unpadded base64url, or too long to be a name, returns an
// error wrapping ErrAuth.
func (n *NameCipher) DecryptString(dir []byte, s string) (string, error) {
	if len(s) > base64.RawURLEncoding.EncodedLen(maxNameCiphertext) {
		return "", fmt.Errorf("%w: decrypt name: %d characters, too long for a name", ErrAuth, len(s))
	}
	ct, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: decrypt name: %v", ErrAuth, err)
	}
	return n.Decrypt(dir, ct)
}

// tag writes the first 16 bytes of
// HMAC-SHA256(macKey, nameLabel || uint16be(len(dir)) || dir || padded)
// to dst.
func (n *NameCipher) tag(dst, dir, padded []byte) {
	mac := hmac.New(sha256.New, n.macKey[:])
	var hdr [len(nameLabel) + 2]byte
	copy(hdr[:], nameLabel)
	binary.BigEndian.PutUint16(hdr[len(nameLabel):], uint16(len(dir)))
	mac.Write(hdr[:])
	mac.Write(dir)
	mac.Write(padded)
	copy(dst, mac.Sum(nil))
}

// ctr returns AES-256-CTR under encKey with the synthetic IV iv.
func (n *NameCipher) ctr(iv []byte) cipher.Stream {
	block, err := aes.NewCipher(n.encKey[:])
	if err != nil {
		panic("crypt: " + err.Error()) // unreachable: the key is always 32 bytes
	}
	return cipher.NewCTR(block, iv)
}

// paddedNameLen is the padded length of a name of n bytes: n+1 (for the
// 0x80 marker) rounded up to a multiple of nameBucket.
func paddedNameLen(n int) int {
	return (n/nameBucket + 1) * nameBucket
}

// checkName reports whether name may be encrypted: 1..MaxNameLen bytes,
// not "." or "..", without '/' or NUL.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrNameTooLong, len(name), MaxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrBadName, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: %q contains '/' or NUL", ErrBadName, name)
	}
	return nil
}
