package crypt

// Seams for the black-box tests in package crypt_test. They exist only in
// test builds.

// SealWithNonce is Seal with a fixed nonce, for golden vectors only.
func (s *Sealer) SealWithNonce(dst, id, plaintext []byte, nonce [NonceSize]byte) []byte {
	return s.sealWithNonce(dst, id, plaintext, &nonce)
}

// NewKeyFileFixed is NewKeyFile with a fixed salt and wrapping nonce, for
// golden vectors only.
func NewKeyFileFixed(drive DriveID, mk MasterKey, passphrase []byte, kdf KDFParams, salt [16]byte, nonce [NonceSize]byte) (*KeyFile, error) {
	return newKeyFile(drive, mk, passphrase, kdf, salt, &nonce)
}

// Subkeys returns every secret subkey of k by name.
func Subkeys(k *Keys) map[string][32]byte {
	m := map[string][32]byte{
		"chunk-id":  k.chunkID,
		"object-id": k.objectID,
		"name-mac":  k.names.macKey,
		"name-enc":  k.names.encKey,
		"signing":   [32]byte(k.signing.Seed()),
	}
	for _, s := range k.sealers {
		m["sealer-"+s.purpose.String()] = s.key
	}
	return m
}
