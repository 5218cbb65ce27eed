package crypt_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

var update = flag.Bool("update", false, "rewrite testdata/v1 golden vectors and the fuzz seed corpora")

// Fixed inputs of the v1 golden vectors. Everything derived from them is
// committed under testdata/v1; every later version must still read it.
const (
	goldenPlaintext  = "murmur golden vector v1"
	goldenID         = "chunk-0"
	goldenPassphrase = "correct horse battery staple"
	goldenDir        = "dir-0"
	goldenName       = "golden vector.txt"
	goldenRootMsg    = "murmur golden root v1"
)

// seq returns n bytes counting up from start.
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// goldenSealNonce is the nonce of the golden sealed chunk: 0xc0..0xd7.
func goldenSealNonce() [crypt.NonceSize]byte {
	return [crypt.NonceSize]byte(seq(0xc0, crypt.NonceSize))
}

// goldenSalt is the salt of the golden key file: 0xb0..0xbf.
func goldenSalt() [16]byte { return [16]byte(seq(0xb0, 16)) }

// goldenWrapNonce is the nonce of the golden key file's wrapped key:
// 0xe0..0xf7.
func goldenWrapNonce() [crypt.NonceSize]byte {
	return [crypt.NonceSize]byte(seq(0xe0, crypt.NonceSize))
}

// goldenSealed returns the golden sealed chunk as the current code makes it.
func goldenSealed() []byte {
	return goldenKeys().Sealer(crypt.PurposeChunk).SealWithNonce(nil, []byte(goldenID), []byte(goldenPlaintext), goldenSealNonce())
}

// goldenKeyFile returns the golden key file as the current code makes it.
func goldenKeyFile(t testing.TB) []byte {
	t.Helper()
	kf, err := crypt.NewKeyFileFixed(goldenDrive(), goldenMasterKey(), []byte(goldenPassphrase), crypt.TestKDF(), goldenSalt(), goldenWrapNonce())
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, kf)
}

// goldenNameCT returns the golden name ciphertext.
func goldenNameCT(t testing.TB) []byte {
	t.Helper()
	ct, err := goldenKeys().Names().Encrypt([]byte(goldenDir), goldenName)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// goldenSubkeys returns "name hex" lines for every subkey and the public
// key of the golden drive, sorted.
func goldenSubkeys() []byte {
	keys := goldenKeys()
	var lines []string
	for name, k := range crypt.Subkeys(keys) {
		lines = append(lines, name+" "+hex.EncodeToString(k[:]))
	}
	lines = append(lines, "public-key "+hex.EncodeToString(keys.PublicKey()))
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

// goldenFiles returns every golden file by name, as the current code makes
// it.
func goldenFiles(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"chunk.sealed": goldenSealed(),
		"keyfile.bin":  goldenKeyFile(t),
		"name.bin":     goldenNameCT(t),
		"root.sig":     goldenKeys().SignRoot([]byte(goldenRootMsg)),
		"subkeys.txt":  goldenSubkeys(),
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "v1", name))
	if err != nil {
		t.Fatalf("golden vector missing (go test -run TestGolden -update writes it): %v", err)
	}
	return b
}

func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	keys := goldenKeys()

	t.Run("sealed chunk opens", func(t *testing.T) {
		pt, err := keys.Sealer(crypt.PurposeChunk).Open(nil, []byte(goldenID), readGolden(t, "chunk.sealed"))
		if err != nil || string(pt) != goldenPlaintext {
			t.Fatalf("Open(golden) = %q, %v", pt, err)
		}
	})
	t.Run("key file unlocks", func(t *testing.T) {
		kf, err := crypt.ParseKeyFile(readGolden(t, "keyfile.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if kf.Drive != goldenDrive() || kf.KDF != crypt.TestKDF() || kf.Salt != goldenSalt() {
			t.Fatalf("golden key file header = %+v", kf)
		}
		mk, err := kf.Unlock([]byte(goldenPassphrase))
		if err != nil || mk != goldenMasterKey() {
			t.Fatalf("Unlock(golden) = %v (right key %v)", err, mk == goldenMasterKey())
		}
	})
	t.Run("name decrypts", func(t *testing.T) {
		name, err := keys.Names().Decrypt([]byte(goldenDir), readGolden(t, "name.bin"))
		if err != nil || name != goldenName {
			t.Fatalf("Decrypt(golden) = %q, %v", name, err)
		}
	})
	t.Run("root signature verifies", func(t *testing.T) {
		if err := crypt.VerifyRoot(keys.PublicKey(), []byte(goldenRootMsg), readGolden(t, "root.sig")); err != nil {
			t.Fatal(err)
		}
	})
	// The v1 writer must keep producing exactly these bytes: a change to
	// any derivation or layout needs a new Version and new vectors.
	t.Run("writer unchanged", func(t *testing.T) {
		for name, current := range goldenFiles(t) {
			if committed := readGolden(t, name); !bytes.Equal(committed, current) {
				t.Errorf("%s: the current code writes different bytes\n  current %x\ncommitted %x", name, current, committed)
			}
		}
	})
}

// writeGolden rewrites testdata/v1 and the committed fuzz seeds.
func writeGolden(t *testing.T) {
	t.Helper()
	for name, b := range goldenFiles(t) {
		writeFile(t, filepath.Join("testdata", "v1", name), b)
	}
	sealed := goldenSealed()
	keyFile := goldenKeyFile(t)
	nameCT := goldenNameCT(t)
	hugeMemory := bytes.Clone(keyFile)
	copy(hugeMemory[offMemory:], []byte{0xff, 0xff, 0xff, 0xff})
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 2
	seeds := map[string]map[string][]byte{
		"FuzzOpen": {
			"golden":       sealed,
			"empty":        {},
			"overhead":     sealed[:crypt.Overhead],
			"truncated":    sealed[:len(sealed)-1],
			"version-2":    badVersion,
			"flipped-tag":  flipped(sealed, len(sealed)-1, 0x80),
			"header-only":  sealed[:1+crypt.NonceSize],
			"one-zero-len": make([]byte, crypt.Overhead),
		},
		"FuzzParseKeyFile": {
			"golden":      keyFile,
			"huge-memory": hugeMemory,
			"truncated":   keyFile[:len(keyFile)-1],
			"magic-only":  keyFile[:8],
			"empty":       {},
		},
		"FuzzDecryptName": {
			"golden":    nameCT,
			"truncated": nameCT[:len(nameCT)-1],
			"tag-only":  nameCT[:16],
			"flipped":   flipped(nameCT, 20, 0x01),
			"too-long":  make([]byte, 16+288),
		},
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, b := range files {
			writeFile(t, filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b))
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
