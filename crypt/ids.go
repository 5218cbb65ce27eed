package crypt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
)

const (
	// Version is the first byte of every sealed object.
	Version byte = 1

	// NonceSize is the length of the random nonce in a sealed object.
	NonceSize = 24

	// Overhead is how much longer a sealed object is than its plaintext:
	// the version byte, the nonce and the 16-byte GCM tag.
	Overhead = 1 + NonceSize + 16

	// MaxNameLen is the longest file name, in bytes, that NameCipher
	// encrypts.
	MaxNameLen = 255
)

// Purpose separates keys and objects by use. Each purpose has its own
// subkey, and the purpose is bound into every seal, so an object sealed for
// one purpose never opens as another.
type Purpose byte

// The purposes. Their numbers and names are part of the format.
const (
	PurposeChunk     Purpose = 1 + iota // chunk content
	PurposeManifest                     // file manifests (a file's chunk list)
	PurposeDirectory                    // directory objects
	PurposeRoot                         // drive-root records
	PurposeKeyWrap                      // wrapped keys (the master key in a key file)
)

// valid reports whether p is one of the defined purposes.
func (p Purpose) valid() bool { return p >= PurposeChunk && p <= PurposeKeyWrap }

// String returns the purpose's name ("chunk", "manifest", "directory",
// "root", "keywrap"), or "purpose(N)" for an undefined value.
func (p Purpose) String() string {
	switch p {
	case PurposeChunk:
		return "chunk"
	case PurposeManifest:
		return "manifest"
	case PurposeDirectory:
		return "directory"
	case PurposeRoot:
		return "root"
	case PurposeKeyWrap:
		return "keywrap"
	}
	return "purpose(" + strconv.Itoa(int(p)) + ")"
}

// mustValid panics if p is not a defined purpose: using one is a
// programming error, like an out-of-range index.
func (p Purpose) mustValid() {
	if !p.valid() {
		panic("crypt: invalid " + p.String())
	}
}

// DriveID names a drive publicly: 16 random bytes drawn when the drive is
// created. It salts the drive's key derivation and is bound into every seal.
type DriveID [16]byte

// NewDriveID returns a fresh random drive ID.
func NewDriveID() DriveID {
	var d DriveID
	randomBytes(d[:])
	return d
}

// String returns the ID in lowercase hex (32 digits).
func (d DriveID) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero value.
func (d DriveID) IsZero() bool { return d == DriveID{} }

// MarshalText implements encoding.TextMarshaler.
func (d DriveID) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *DriveID) UnmarshalText(b []byte) error {
	v, err := ParseDriveID(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDriveID parses the hex form of a drive ID. Errors wrap ErrBadDriveID.
func ParseDriveID(s string) (DriveID, error) {
	var d DriveID
	if len(s) != 2*len(d) {
		return DriveID{}, fmt.Errorf("%w: %d characters, want %d", ErrBadDriveID, len(s), 2*len(d))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return DriveID{}, fmt.Errorf("%w: %v", ErrBadDriveID, err)
	}
	return d, nil
}

// MasterKey is a drive's root secret: 32 random bytes, stored only wrapped
// in a KeyFile. Its String and GoString methods redact it, so it does not
// end up in logs by accident.
type MasterKey [32]byte

// NewMasterKey returns a fresh random master key.
func NewMasterKey() MasterKey {
	var mk MasterKey
	randomBytes(mk[:])
	return mk
}

// String returns a fixed placeholder, never the key.
func (MasterKey) String() string { return "crypt.MasterKey(redacted)" }

// GoString returns a fixed placeholder, never the key.
func (MasterKey) GoString() string { return "crypt.MasterKey(redacted)" }

// randomBytes fills b from crypto/rand. Since Go 1.24, crypto/rand.Read
// never returns an error (it crashes the program if the OS source fails).
func randomBytes(b []byte) {
	_, _ = rand.Read(b)
}
