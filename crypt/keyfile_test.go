package crypt_test

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

// newTestKeyFile returns a key file for a random drive and master key
// under passphrase, with TestKDF().
func newTestKeyFile(t testing.TB, passphrase string) (*crypt.KeyFile, crypt.MasterKey) {
	t.Helper()
	mk := crypt.NewMasterKey()
	kf, err := crypt.NewKeyFile(crypt.NewDriveID(), mk, []byte(passphrase), crypt.TestKDF())
	if err != nil {
		t.Fatalf("NewKeyFile: %v", err)
	}
	return kf, mk
}

// marshal returns kf's bytes or fails the test.
func marshal(t testing.TB, kf *crypt.KeyFile) []byte {
	t.Helper()
	b, err := kf.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

// Offsets into a marshaled key file; see docs/format.md.
const (
	offVersion = 8
	offDrive   = 9
	offKDF     = 25
	offTime    = 26
	offMemory  = 30
	offThreads = 34
	offSalt    = 35
	offWrapped = 51
)

func TestKeyFileRoundTrip(t *testing.T) {
	kf, mk := newTestKeyFile(t, "hunter2")
	b := marshal(t, kf)
	if len(b) != crypt.KeyFileSize || crypt.KeyFileSize != 124 {
		t.Fatalf("marshaled key file is %d bytes, KeyFileSize %d, want 124", len(b), crypt.KeyFileSize)
	}
	if string(b[:8]) != "MURMURKF" || b[offVersion] != 1 || b[offKDF] != 1 || b[offWrapped] != crypt.Version {
		t.Fatalf("unexpected header % x", b[:offWrapped+1])
	}
	parsed, err := crypt.ParseKeyFile(b)
	if err != nil {
		t.Fatalf("ParseKeyFile: %v", err)
	}
	if parsed.Drive != kf.Drive || parsed.KDF != kf.KDF || parsed.Salt != kf.Salt {
		t.Fatalf("parsed header %+v differs from %+v", parsed, kf)
	}
	if !bytes.Equal(marshal(t, parsed), b) {
		t.Fatal("MarshalBinary(ParseKeyFile(b)) != b")
	}
	got, err := parsed.Unlock([]byte("hunter2"))
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if got != mk {
		t.Fatal("Unlock returned another master key")
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	kf, _ := newTestKeyFile(t, "right")
	for _, p := range []string{"wrong", "", "righ", "right "} {
		got, err := kf.Unlock([]byte(p))
		wantErr(t, err, crypt.ErrWrongPassphrase, "Unlock with "+p)
		if got != (crypt.MasterKey{}) {
			t.Fatal("Unlock returned a key with an error")
		}
	}
}

func TestKeyFileHeaderIsBound(t *testing.T) {
	kf, _ := newTestKeyFile(t, "pass")
	for _, mutate := range []func(*crypt.KeyFile){
		func(k *crypt.KeyFile) { k.Drive[0] ^= 1 },
		func(k *crypt.KeyFile) { k.Salt[15] ^= 1 },
		func(k *crypt.KeyFile) { k.KDF.Time++ },
		func(k *crypt.KeyFile) { k.KDF.MemoryKiB++ },
	} {
		c, err := crypt.ParseKeyFile(marshal(t, kf))
		if err != nil {
			t.Fatal(err)
		}
		mutate(c)
		_, err = c.Unlock([]byte("pass"))
		wantErr(t, err, crypt.ErrWrongPassphrase, "Unlock after changing a header field")
	}
}

func TestChangePassphrase(t *testing.T) {
	kf, mk := newTestKeyFile(t, "old")
	before := marshal(t, kf)
	oldSalt := kf.Salt

	err := kf.ChangePassphrase([]byte("not old"), []byte("new"), crypt.TestKDF())
	wantErr(t, err, crypt.ErrWrongPassphrase, "ChangePassphrase with a wrong passphrase")
	if !bytes.Equal(marshal(t, kf), before) {
		t.Fatal("a failed ChangePassphrase changed the key file")
	}
	err = kf.ChangePassphrase([]byte("old"), []byte("new"), crypt.KDFParams{})
	if err == nil || !bytes.Equal(marshal(t, kf), before) {
		t.Fatalf("ChangePassphrase with invalid KDF = %v, or it changed the key file", err)
	}

	newKDF := crypt.KDFParams{Time: 2, MemoryKiB: 128, Threads: 2}
	if err := kf.ChangePassphrase([]byte("old"), []byte("new"), newKDF); err != nil {
		t.Fatalf("ChangePassphrase: %v", err)
	}
	if kf.Salt == oldSalt || kf.KDF != newKDF {
		t.Fatal("ChangePassphrase kept the salt or ignored the new KDF parameters")
	}
	parsed, err := crypt.ParseKeyFile(marshal(t, kf))
	if err != nil {
		t.Fatal(err)
	}
	_, err = parsed.Unlock([]byte("old"))
	wantErr(t, err, crypt.ErrWrongPassphrase, "Unlock with the old passphrase")
	got, err := parsed.Unlock([]byte("new"))
	if err != nil || got != mk {
		t.Fatalf("Unlock with the new passphrase = %v (same key %v)", err, got == mk)
	}
}

func TestKeyFileFlipEveryByte(t *testing.T) {
	kf, _ := newTestKeyFile(t, "pass")
	b := marshal(t, kf)
	for i := range b {
		for _, m := range flipMasks() {
			c, err := crypt.ParseKeyFile(flipped(b, i, m))
			if err != nil {
				wantErr(t, err, crypt.ErrKeyFile, "ParseKeyFile of a flipped key file")
				continue
			}
			_, err = c.Unlock([]byte("pass"))
			if err == nil {
				t.Fatalf("flipping byte %d with %#x still unlocks", i, m)
			}
			wantErr(t, err, crypt.ErrWrongPassphrase, "Unlock of a flipped key file")
		}
	}
}

func TestKeyFileTruncateAndExtend(t *testing.T) {
	kf, _ := newTestKeyFile(t, "pass")
	b := marshal(t, kf)
	for n := range len(b) {
		_, err := crypt.ParseKeyFile(b[:n])
		wantErr(t, err, crypt.ErrKeyFile, "ParseKeyFile of a truncated key file")
	}
	_, err := crypt.ParseKeyFile(append(bytes.Clone(b), 0))
	wantErr(t, err, crypt.ErrKeyFile, "ParseKeyFile of an extended key file")
}

func TestKeyFileBadHeader(t *testing.T) {
	kf, _ := newTestKeyFile(t, "pass")
	good := marshal(t, kf)
	set := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	for name, b := range map[string][]byte{
		"magic":         set(0, 'X'),
		"version 0":     set(offVersion, 0),
		"version 2":     set(offVersion, 2),
		"kdf 0":         set(offKDF, 0),
		"kdf 2":         set(offKDF, 2),
		"time 0":        set(offTime, u32(0)...),
		"time 65":       set(offTime, u32(65)...),
		"threads 0":     set(offThreads, 0),
		"threads 65":    set(offThreads, 65),
		"memory < 8p":   set(offMemory, u32(7)...),
		"memory 4GiB+1": set(offMemory, u32(4<<20+1)...),
		"memory max":    set(offMemory, u32(0xffffffff)...),
		"wrapped v2":    set(offWrapped, 2),
	} {
		_, err := crypt.ParseKeyFile(b)
		wantErr(t, err, crypt.ErrKeyFile, "ParseKeyFile with bad "+name)
	}
}

// TestKeyFileHugeMemory checks that a forged memory parameter is refused
// before argon2id could allocate it, by ParseKeyFile and by Unlock.
func TestKeyFileHugeMemory(t *testing.T) {
	kf, _ := newTestKeyFile(t, "pass")
	b := marshal(t, kf)
	binary.BigEndian.PutUint32(b[offMemory:], 0xffffffff)

	var err error
	allocated := bytesAllocated(func() { _, err = crypt.ParseKeyFile(b) })
	wantErr(t, err, crypt.ErrKeyFile, "ParseKeyFile with a huge memory parameter")
	if allocated > 64<<10 {
		t.Fatalf("ParseKeyFile allocated %d bytes before refusing", allocated)
	}

	kf.KDF.MemoryKiB = 0xffffffff
	allocated = bytesAllocated(func() { _, err = kf.Unlock([]byte("pass")) })
	wantErr(t, err, crypt.ErrKeyFile, "Unlock with a huge memory parameter")
	if allocated > 64<<10 {
		t.Fatalf("Unlock allocated %d bytes before refusing", allocated)
	}
	_, err = kf.MarshalBinary()
	wantErr(t, err, crypt.ErrKeyFile, "MarshalBinary with a huge memory parameter")
}

// bytesAllocated returns how many heap bytes f allocated.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestKeyFileZeroValue(t *testing.T) {
	var kf crypt.KeyFile
	_, err := kf.MarshalBinary()
	wantErr(t, err, crypt.ErrKeyFile, "MarshalBinary of a zero KeyFile")
	_, err = kf.Unlock([]byte("x"))
	wantErr(t, err, crypt.ErrKeyFile, "Unlock of a zero KeyFile")
	err = kf.ChangePassphrase([]byte("x"), []byte("y"), crypt.TestKDF())
	wantErr(t, err, crypt.ErrKeyFile, "ChangePassphrase of a zero KeyFile")
}

func TestNewKeyFileBadKDF(t *testing.T) {
	_, err := crypt.NewKeyFile(crypt.NewDriveID(), crypt.NewMasterKey(), []byte("p"), crypt.KDFParams{Time: 1, MemoryKiB: 1 << 30, Threads: 1})
	if err == nil {
		t.Fatal("NewKeyFile accepted 1 TiB of memory")
	}
}

func TestKDFParamsValidate(t *testing.T) {
	for _, c := range []struct {
		p  crypt.KDFParams
		ok bool
	}{
		{crypt.DefaultKDF(), true},
		{crypt.TestKDF(), true},
		{crypt.KDFParams{Time: 1, MemoryKiB: 8, Threads: 1}, true},
		{crypt.KDFParams{Time: 64, MemoryKiB: 4 << 20, Threads: 64}, true},
		{crypt.KDFParams{Time: 1, MemoryKiB: 512, Threads: 64}, true},
		{crypt.KDFParams{}, false},
		{crypt.KDFParams{Time: 0, MemoryKiB: 64, Threads: 1}, false},
		{crypt.KDFParams{Time: 65, MemoryKiB: 64, Threads: 1}, false},
		{crypt.KDFParams{Time: 1, MemoryKiB: 64, Threads: 0}, false},
		{crypt.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 65}, false},
		{crypt.KDFParams{Time: 1, MemoryKiB: 7, Threads: 1}, false},
		{crypt.KDFParams{Time: 1, MemoryKiB: 511, Threads: 64}, false},
		{crypt.KDFParams{Time: 1, MemoryKiB: 4<<20 + 1, Threads: 1}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", c.p, err, c.ok)
		}
	}
	if crypt.DefaultKDF() != (crypt.KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}) {
		t.Errorf("DefaultKDF() = %+v, want RFC 9106's second recommendation", crypt.DefaultKDF())
	}
}
