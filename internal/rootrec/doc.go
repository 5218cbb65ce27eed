// Package rootrec is the byte form of a drive's root record: the signed,
// sequence-numbered pointer by which any device finds the drive's newest
// root. A record names the drive by its Ed25519 public key and is signed
// by that drive's key (crypt.Keys.SignRoot), so it is self-certifying: any
// holder can check it without a secret and none can forge one.
//
// The package sits below both keepers of records: node files them in its
// DHT, and fs/cloudtest's in-memory cloud keeps them in a map, so the two
// hold the same bytes and check them with the same Parse. The rule that a
// drive's records only move forward (a record whose sequence number is not
// above the newest held is refused, ErrStale) is stated once here, in
// CheckNewer, for both.
//
// Parse never panics on hostile input and accepts only the canonical
// encoding, so a record has one byte form. Records are immutable once
// made; their slices must not be changed.
package rootrec
