package crypt_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

func TestSignVerifyRoot(t *testing.T) {
	keys := newTestKeys(t)
	pub := keys.PublicKey()
	msg := []byte("root record v7")
	sig := keys.SignRoot(msg)
	if err := crypt.VerifyRoot(pub, msg, sig); err != nil {
		t.Fatalf("VerifyRoot: %v", err)
	}
	for i := range msg {
		err := crypt.VerifyRoot(pub, flipped(msg, i, 0x01), sig)
		wantErr(t, err, crypt.ErrBadSignature, "VerifyRoot of a tampered message")
	}
	for i := range sig {
		for _, m := range flipMasks() {
			err := crypt.VerifyRoot(pub, msg, flipped(sig, i, m))
			wantErr(t, err, crypt.ErrBadSignature, "VerifyRoot of a tampered signature")
		}
	}
	err := crypt.VerifyRoot(newTestKeys(t).PublicKey(), msg, sig)
	wantErr(t, err, crypt.ErrBadSignature, "VerifyRoot with another drive's key")

	for _, c := range []struct {
		name     string
		pub      ed25519.PublicKey
		msg, sig []byte
	}{
		{"nil key", nil, msg, sig},
		{"short key", pub[:31], msg, sig},
		{"long key", append(bytes.Clone(pub), 0), msg, sig},
		{"nil sig", pub, msg, nil},
		{"short sig", pub, msg, sig[:63]},
		{"long sig", pub, msg, append(bytes.Clone(sig), 0)},
		{"empty msg", pub, nil, sig},
	} {
		err := crypt.VerifyRoot(c.pub, c.msg, c.sig)
		wantErr(t, err, crypt.ErrBadSignature, c.name)
	}

	// Domain separation: a plain Ed25519 signature by the same key over
	// the same bytes is not a root signature.
	plain := ed25519.Sign(keys.SigningKey(), msg)
	err = crypt.VerifyRoot(pub, msg, plain)
	wantErr(t, err, crypt.ErrBadSignature, "VerifyRoot of an undomained signature")
	if !ed25519.Verify(pub, append([]byte("murmur drive root v1\x00"), msg...), sig) {
		t.Fatal("root signature is not Ed25519 over the documented prefix")
	}
}

func TestKeysAccessorsReturnCopies(t *testing.T) {
	keys := newTestKeys(t)
	msg := []byte("m")
	sig := keys.SignRoot(msg)
	priv := keys.SigningKey()
	clear(priv)
	pub := keys.PublicKey()
	clear(pub)
	if err := crypt.VerifyRoot(keys.PublicKey(), msg, keys.SignRoot(msg)); err != nil {
		t.Fatalf("mutating returned keys changed the Keys: %v", err)
	}
	if !bytes.Equal(sig, keys.SignRoot(msg)) {
		t.Fatal("signature changed after mutating a returned key")
	}
	if !bytes.Equal(keys.SigningKey().Public().(ed25519.PublicKey), keys.PublicKey()) {
		t.Fatal("SigningKey and PublicKey do not match")
	}
}

func TestKeysDeterministic(t *testing.T) {
	mk := crypt.NewMasterKey()
	d := crypt.NewDriveID()
	a, b := crypt.Subkeys(mk.Keys(d)), crypt.Subkeys(mk.Keys(d))
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("deriving the same drive's keys twice gives different keys")
	}
	if mk.Keys(d).Drive() != d {
		t.Fatal("Keys.Drive differs from the drive they were derived for")
	}
}

func TestKeysDiffer(t *testing.T) {
	mk := crypt.NewMasterKey()
	d1, d2 := crypt.NewDriveID(), crypt.NewDriveID()
	sets := []map[string][32]byte{
		crypt.Subkeys(mk.Keys(d1)),
		crypt.Subkeys(mk.Keys(d2)),
		crypt.Subkeys(crypt.NewMasterKey().Keys(d1)),
	}
	// Every subkey of every set differs from every other one: across
	// drives, across master keys and across purposes within one drive.
	seen := map[[32]byte]string{}
	for i, set := range sets {
		if len(set) != 10 {
			t.Fatalf("set %d has %d subkeys, want 10", i, len(set))
		}
		for name, k := range set {
			label := fmt.Sprintf("set %d %s", i, name)
			if prev, dup := seen[k]; dup {
				t.Fatalf("%s equals %s", label, prev)
			}
			if k == [32]byte{} {
				t.Fatalf("%s is zero", label)
			}
			seen[k] = label
		}
	}
	k1, k2 := mk.Keys(d1), mk.Keys(d2)
	if k1.ChunkIDKey() == k2.ChunkIDKey() || k1.ObjectIDKey() == k2.ObjectIDKey() ||
		k1.ChunkIDKey() == k1.ObjectIDKey() || bytes.Equal(k1.PublicKey(), k2.PublicKey()) {
		t.Fatal("exported keys of two drives, or of two uses, coincide")
	}
	if k1.ChunkIDKey() != sets[0]["chunk-id"] || k1.ObjectIDKey() != sets[0]["object-id"] {
		t.Fatal("exported ID keys differ from the derived subkeys")
	}
}

func TestKeysSealerPurposes(t *testing.T) {
	keys := newTestKeys(t)
	for p := crypt.PurposeChunk; p <= crypt.PurposeKeyWrap; p++ {
		s := keys.Sealer(p)
		if s.Purpose() != p || s.Drive() != keys.Drive() {
			t.Fatalf("Sealer(%v) is for %v of %v", p, s.Purpose(), s.Drive())
		}
		if keys.Sealer(p) != s {
			t.Fatalf("Sealer(%v) is not the same Sealer each time", p)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Sealer(0) did not panic")
		}
	}()
	keys.Sealer(0)
}

func TestSecretsAreNotPrinted(t *testing.T) {
	mk := crypt.NewMasterKey()
	keys := mk.Keys(crypt.NewDriveID())
	secrets := []string{hex.EncodeToString(mk[:])}
	for _, k := range crypt.Subkeys(keys) {
		secrets = append(secrets, hex.EncodeToString(k[:]))
	}
	var out strings.Builder
	for _, v := range []any{mk, &mk, keys, keys.Sealer(crypt.PurposeChunk), keys.Names()} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	got := strings.ToLower(out.String())
	for _, s := range secrets {
		for _, frag := range []string{s, s[:16]} {
			if strings.Contains(got, frag) {
				t.Fatalf("formatted output contains a secret:\n%s", out.String())
			}
		}
	}
}

func TestDriveID(t *testing.T) {
	d := goldenDrive()
	if got := d.String(); got != "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" {
		t.Fatalf("String = %q", got)
	}
	p, err := crypt.ParseDriveID(d.String())
	if err != nil || p != d {
		t.Fatalf("ParseDriveID(String) = %v, %v", p, err)
	}
	if p, err := crypt.ParseDriveID("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"); err != nil || p != d {
		t.Fatalf("ParseDriveID(upper case) = %v, %v", p, err)
	}
	for _, bad := range []string{"", "a0", d.String() + "00", "zz" + d.String()[2:], strings.Repeat("é", 16)} {
		_, err := crypt.ParseDriveID(bad)
		wantErr(t, err, crypt.ErrBadDriveID, fmt.Sprintf("ParseDriveID(%q)", bad))
	}
	j, err := json.Marshal(map[string]crypt.DriveID{"d": d})
	if err != nil || string(j) != `{"d":"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"}` {
		t.Fatalf("json = %s, %v", j, err)
	}
	var back map[string]crypt.DriveID
	if err := json.Unmarshal(j, &back); err != nil || back["d"] != d {
		t.Fatalf("json round trip = %v, %v", back, err)
	}
	var z crypt.DriveID
	if err := z.UnmarshalText([]byte("nope")); err == nil || !z.IsZero() {
		t.Fatalf("UnmarshalText(nope) = %v, left %v", err, z)
	}
	if crypt.NewDriveID() == crypt.NewDriveID() || crypt.NewMasterKey() == crypt.NewMasterKey() {
		t.Fatal("random IDs or keys repeat")
	}
}
