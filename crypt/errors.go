package crypt

import "errors"

// Errors returned by this package, always wrapped with the operation and a
// detail; match them with errors.Is.
var (
	// ErrAuth reports a sealed object or name ciphertext that does not
	// authenticate: it was tampered with, truncated, sealed under another
	// key, drive, purpose or identity, or carries an unknown version.
	ErrAuth = errors.New("crypt: message authentication failed")

	// ErrWrongPassphrase reports a key file that does not unlock with the
	// passphrase given, or whose header was changed.
	ErrWrongPassphrase = errors.New("crypt: wrong passphrase or key file")

	// ErrKeyFile reports a key file that cannot be parsed: bad magic,
	// unknown version, wrong length or KDF parameters out of bounds.
	ErrKeyFile = errors.New("crypt: malformed key file")

	// ErrNameTooLong reports a file name longer than MaxNameLen bytes.
	ErrNameTooLong = errors.New("crypt: name too long")

	// ErrBadName reports a file name that is empty, ".", "..", or contains
	// '/' or NUL.
	ErrBadName = errors.New("crypt: invalid name")

	// ErrBadSignature reports a drive-root signature that does not verify.
	ErrBadSignature = errors.New("crypt: bad signature")

	// ErrBadDriveID reports a drive ID that is not 32 hex digits.
	ErrBadDriveID = errors.New("crypt: malformed drive ID")

	// ErrMalformedKey reports an encoded ObjectKey that does not parse.
	ErrMalformedKey = errors.New("crypt: malformed object key")
)
