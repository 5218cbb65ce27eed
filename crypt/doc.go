// Package crypt is Murmur's cryptography: the key hierarchy, sealing of
// chunks and metadata, file-name encryption and drive-root signatures. It
// is the only package that touches crypto/cipher, it uses primitives from
// the standard library and golang.org/x/crypto only, and it imports nothing
// of Murmur's. Byte formats are specified in docs/format.md.
//
// Keys. A drive has a random 32-byte MasterKey that is never stored
// unwrapped. A KeyFile holds it sealed under a key-encryption key derived
// from the user's passphrase with argon2id (KDFParams, a random salt), so
// the passphrase can change without touching data. MasterKey.Keys derives
// the drive's working keys with HKDF-SHA256 (salt = the public DriveID,
// info = "murmur v1 " + a name): one sealing key per Purpose, the keys for
// chunk and object IDs, two name-encryption keys and the seed of the
// drive's Ed25519 signing key. Knowing one subkey reveals nothing of the
// others or of the master key.
//
// Sealing. A Sealer seals with AES-256-GCM, which on this project's
// hardware (AES-NI, VAES) runs 1.5 to 1.7 times as fast as
// XChaCha20-Poly1305 (compare BenchmarkSeal1MiB with
// BenchmarkSealXChaCha1MiB). Plain GCM with random 96-bit nonces must stop
// after about 2^32 messages per key, which a long-lived drive key could
// reach; so, as in XAES-256-GCM, each object draws a random 192-bit nonce
// N and is sealed under its own key HMAC-SHA256(subkey, "murmur/seal/v1" ||
// N[0:12]) with N[12:24] as the GCM nonce. A (key, nonce) pair then repeats
// only if all 192 bits collide, so the number of objects per drive is
// effectively unbounded. The associated data of every seal is "murmur",
// the format Version, the Purpose, the DriveID and the object's identity
// (for a chunk, its chunk ID), so a peer cannot swap one object for
// another, or move it to another drive, purpose or identity, without Open
// failing with ErrAuth. An older object under the same identity is not
// detected here: records that change in place (drive roots) carry their
// own version numbers and signatures. A sealed object starts with its
// Version byte, so later formats can coexist with this one.
//
// Connections. Members of a cloud encrypt every TCP connection below TLS
// with AES-256-CTR, each direction keyed by HKDF-SHA256 of the cloud
// secret and both sides' random nonces (ConnCiphers): the private network
// that keeps hosts without the secret out.
//
// Names are encrypted deterministically per directory (NameCipher, a
// synthetic-IV construction) so a directory can be searched by encrypted
// name; they are padded to 32-byte buckets. Drive roots are signed with
// Ed25519 under a fixed domain prefix (Keys.SignRoot, VerifyRoot).
//
// What peers learn: the length of each sealed object (plaintext length
// plus Overhead), the length of each name to within 32 bytes, whether the
// same name recurs under the same directory identity, the DriveID and
// public key, and when objects are written. They learn no plaintext and no
// key, and cannot confirm a guessed file by its chunk IDs, which are keyed.
// Sealed lengths do leak chunk lengths, which a peer can match against a
// known file's content-defined chunking: see docs/security.md.
//
// Every type here is immutable once made and safe for concurrent use,
// except KeyFile, whose methods must not race with ChangePassphrase.
// Errors wrap the package's sentinels (ErrAuth, ErrWrongPassphrase, ...);
// match them with errors.Is. Hostile input never panics.
package crypt
