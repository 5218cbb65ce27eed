package crypt

import (
	"crypto/ed25519"
	"fmt"
)

// rootSigPrefix is prepended to a drive-root message before it is signed,
// so a drive key's signature over a root can never be mistaken for a
// signature over anything else.
const rootSigPrefix = "murmur drive root v1\x00"

// SignRoot signs a drive-root record with the drive's Ed25519 key over
// "murmur drive root v1\x00" || msg, and returns the 64-byte signature.
func (k *Keys) SignRoot(msg []byte) []byte {
	return ed25519.Sign(k.signing, rootMessage(msg))
}

// VerifyRoot checks sig, made by SignRoot, over msg with the public key
// pub. It returns nil or an error wrapping ErrBadSignature, including for a
// public key or signature of the wrong length; it never panics.
func VerifyRoot(pub ed25519.PublicKey, msg, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadSignature, len(pub), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, rootMessage(msg), sig) {
		return fmt.Errorf("%w: drive root", ErrBadSignature)
	}
	return nil
}

// rootMessage returns rootSigPrefix || msg.
func rootMessage(msg []byte) []byte {
	m := make([]byte, 0, len(rootSigPrefix)+len(msg))
	return append(append(m, rootSigPrefix...), msg...)
}
