package crypt_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/murmur-cloud/murmur/crypt"
)

// These tests rebuild each format from docs/format.md with the
// standard primitives directly, so the package and its documentation
// cannot drift apart.

func specSubkey(t *testing.T, info string) []byte {
	t.Helper()
	mk, drive := goldenMasterKey(), goldenDrive()
	k, err := hkdf.Key(sha256.New, mk[:], drive[:], info, 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func specHMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func specGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

// specSeal seals as the format document says.
func specSeal(t *testing.T, key []byte, drive crypt.DriveID, p crypt.Purpose, nonce, id, pt []byte) []byte {
	t.Helper()
	objectKey := specHMAC(key, []byte("murmur/seal/v1"), nonce[:12])
	ad := []byte("murmur")
	ad = append(ad, 1, byte(p))
	ad = append(ad, drive[:]...)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(id)))
	ad = append(ad, id...)
	out := append([]byte{1}, nonce...)
	return specGCM(t, objectKey).Seal(out, nonce[12:], pt, ad)
}

func TestSpecSealedObject(t *testing.T) {
	nonce := goldenSealNonce()
	want := specSeal(t, specSubkey(t, "murmur v1 chunk"), goldenDrive(), crypt.PurposeChunk,
		nonce[:], []byte(goldenID), []byte(goldenPlaintext))
	if got := goldenSealed(); !bytes.Equal(got, want) {
		t.Fatalf("Seal does not follow the format\n got %x\nwant %x", got, want)
	}
}

func TestSpecSubkeys(t *testing.T) {
	keys := goldenKeys()
	sub := crypt.Subkeys(keys)
	for name, info := range map[string]string{
		"chunk-id":         "murmur v1 chunk-id",
		"object-id":        "murmur v1 object-id",
		"name-mac":         "murmur v1 name-mac",
		"name-enc":         "murmur v1 name-enc",
		"signing":          "murmur v1 signing",
		"sealer-chunk":     "murmur v1 chunk",
		"sealer-manifest":  "murmur v1 manifest",
		"sealer-directory": "murmur v1 directory",
		"sealer-root":      "murmur v1 root",
		"sealer-keywrap":   "murmur v1 keywrap",
	} {
		got := sub[name]
		if want := specSubkey(t, info); !bytes.Equal(got[:], want) {
			t.Errorf("subkey %s is not HKDF info %q", name, info)
		}
	}
	pub := ed25519.NewKeyFromSeed(specSubkey(t, "murmur v1 signing")).Public().(ed25519.PublicKey)
	if !bytes.Equal(keys.PublicKey(), pub) {
		t.Error("public key is not from the signing seed")
	}
}

func TestSpecName(t *testing.T) {
	padded := append([]byte(goldenName), 0x80)
	padded = append(padded, make([]byte, 32-len(padded)%32)...)
	dir := []byte(goldenDir)
	tag := specHMAC(specSubkey(t, "murmur v1 name-mac"),
		[]byte("murmur/name/v1"), binary.BigEndian.AppendUint16(nil, uint16(len(dir))), dir, padded)[:16]
	block, err := aes.NewCipher(specSubkey(t, "murmur v1 name-enc"))
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(padded))
	cipher.NewCTR(block, tag).XORKeyStream(ct, padded)
	want := append(bytes.Clone(tag), ct...)
	if got := goldenNameCT(t); !bytes.Equal(got, want) {
		t.Fatalf("name ciphertext does not follow the format\n got %x\nwant %x", got, want)
	}
}

func TestSpecKeyFile(t *testing.T) {
	drive, salt, nonce := goldenDrive(), goldenSalt(), goldenWrapNonce()
	mk := goldenMasterKey()
	hdr := []byte("MURMURKF")
	hdr = append(hdr, 1)
	hdr = append(hdr, drive[:]...)
	hdr = append(hdr, 1)
	hdr = binary.BigEndian.AppendUint32(hdr, crypt.TestKDF().Time)
	hdr = binary.BigEndian.AppendUint32(hdr, crypt.TestKDF().MemoryKiB)
	hdr = append(hdr, crypt.TestKDF().Threads)
	hdr = append(hdr, salt[:]...)
	kek := argon2.IDKey([]byte(goldenPassphrase), salt[:], crypt.TestKDF().Time, crypt.TestKDF().MemoryKiB, crypt.TestKDF().Threads, 32)
	want := append(bytes.Clone(hdr), specSeal(t, kek, drive, crypt.PurposeKeyWrap, nonce[:], hdr, mk[:])...)
	if got := goldenKeyFile(t); !bytes.Equal(got, want) {
		t.Fatalf("key file does not follow the format\n got %x\nwant %x", got, want)
	}
}

func TestSpecRootSignature(t *testing.T) {
	keys := goldenKeys()
	msg := []byte(goldenRootMsg)
	want := ed25519.Sign(ed25519.NewKeyFromSeed(specSubkey(t, "murmur v1 signing")), append([]byte("murmur drive root v1\x00"), msg...))
	if got := keys.SignRoot(msg); !bytes.Equal(got, want) {
		t.Fatal("root signature does not follow the format")
	}
}
