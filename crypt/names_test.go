package crypt_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

// nameOfLen returns a valid name of n bytes, mixing ASCII and UTF-8.
func nameOfLen(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if n-b.Len() >= 3 && b.Len()%7 == 3 {
			b.WriteString("é.") // 3 bytes
			continue
		}
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789-_ "[b.Len()%38])
	}
	return b.String()
}

func TestNameRoundTrip(t *testing.T) {
	nc := newTestKeys(t).Names()
	dir := []byte("dir-object-id")
	for n := 1; n <= crypt.MaxNameLen; n++ {
		name := nameOfLen(n)
		if len(name) != n {
			t.Fatalf("nameOfLen(%d) has %d bytes", n, len(name))
		}
		ct, err := nc.Encrypt(dir, name)
		if err != nil {
			t.Fatalf("Encrypt %d bytes: %v", n, err)
		}
		if want := 16 + 32*((n+1+31)/32); len(ct) != want {
			t.Fatalf("ciphertext of a %d-byte name is %d bytes, want %d", n, len(ct), want)
		}
		if (len(ct)-16)%32 != 0 || len(ct) > 272 {
			t.Fatalf("ciphertext length %d is not a 32-byte bucket", len(ct))
		}
		got, err := nc.Decrypt(dir, ct)
		if err != nil || got != name {
			t.Fatalf("Decrypt(Encrypt(%q)) = %q, %v", name, got, err)
		}
	}
}

func TestNameBadInput(t *testing.T) {
	nc := newTestKeys(t).Names()
	dir := []byte("d")
	cases := []struct {
		name string
		want error
	}{
		{strings.Repeat("x", 256), crypt.ErrNameTooLong},
		{strings.Repeat("x", 10000), crypt.ErrNameTooLong},
		{"", crypt.ErrBadName},
		{"/", crypt.ErrBadName},
		{"a/b", crypt.ErrBadName},
		{"a/", crypt.ErrBadName},
		{"\x00", crypt.ErrBadName},
		{"a\x00b", crypt.ErrBadName},
		{".", crypt.ErrBadName},
		{"..", crypt.ErrBadName},
	}
	for _, c := range cases {
		ct, err := nc.Encrypt(dir, c.name)
		wantErr(t, err, c.want, "Encrypt of a bad name")
		if ct != nil {
			t.Fatalf("Encrypt returned a ciphertext with an error")
		}
		_, err = nc.EncryptString(dir, c.name)
		wantErr(t, err, c.want, "EncryptString of a bad name")
	}
	for _, ok := range []string{"...", ".a", "a.", " ", "\xff\xfe"} {
		if _, err := nc.Encrypt(dir, ok); err != nil {
			t.Errorf("Encrypt(%q): %v", ok, err)
		}
	}
}

func TestNameDeterministic(t *testing.T) {
	keys := newTestKeys(t)
	nc := keys.Names()
	a1, _ := nc.Encrypt([]byte("dir-a"), "report.pdf")
	a2, _ := nc.Encrypt([]byte("dir-a"), "report.pdf")
	if !bytes.Equal(a1, a2) {
		t.Fatal("same name in the same directory encrypts differently")
	}
	b, _ := nc.Encrypt([]byte("dir-b"), "report.pdf")
	if bytes.Equal(a1, b) {
		t.Fatal("same name in two directories encrypts the same")
	}
	other, _ := nc.Encrypt([]byte("dir-a"), "report.pdg")
	if bytes.Equal(a1[:16], other[:16]) || bytes.Equal(a1[16:], other[16:]) {
		t.Fatal("names differing in one byte share a tag or ciphertext")
	}
	elsewhere, _ := newTestKeys(t).Names().Encrypt([]byte("dir-a"), "report.pdf")
	if bytes.Equal(a1, elsewhere) {
		t.Fatal("two drives encrypt a name the same")
	}
	_, err := nc.Decrypt([]byte("dir-b"), a1)
	wantErr(t, err, crypt.ErrAuth, "Decrypt in another directory")
	_, err = newTestKeys(t).Names().Decrypt([]byte("dir-a"), a1)
	wantErr(t, err, crypt.ErrAuth, "Decrypt with another drive's keys")
}

func TestNameTamper(t *testing.T) {
	nc := newTestKeys(t).Names()
	dir := []byte("dir")
	for _, name := range []string{"a", nameOfLen(31), nameOfLen(32), nameOfLen(crypt.MaxNameLen)} {
		ct, err := nc.Encrypt(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ct {
			for _, m := range flipMasks() {
				_, err := nc.Decrypt(dir, flipped(ct, i, m))
				wantErr(t, err, crypt.ErrAuth, "Decrypt after flipping a byte")
			}
		}
		for n := range len(ct) {
			_, err := nc.Decrypt(dir, ct[:n])
			wantErr(t, err, crypt.ErrAuth, "Decrypt of a truncated name")
		}
		_, err = nc.Decrypt(dir, append(bytes.Clone(ct), make([]byte, 32)...))
		wantErr(t, err, crypt.ErrAuth, "Decrypt of an extended name")
	}
}

func TestNameStrings(t *testing.T) {
	nc := newTestKeys(t).Names()
	dir := []byte("dir")
	s, err := nc.EncryptString(dir, "notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(s, "+/=") {
		t.Fatalf("EncryptString = %q, not unpadded base64url", s)
	}
	got, err := nc.DecryptString(dir, s)
	if err != nil || got != "notes.txt" {
		t.Fatalf("DecryptString = %q, %v", got, err)
	}
	for _, bad := range []string{"", "!!!!", s + "=", s[:len(s)-1], strings.Repeat("A", 1<<20)} {
		_, err := nc.DecryptString(dir, bad)
		wantErr(t, err, crypt.ErrAuth, "DecryptString of bad text")
	}
}
