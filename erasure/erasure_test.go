package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// stripe encodes random data shards of uneven sizes (some slots empty).
func stripe(t *testing.T, rng *rand.Rand, k, m, used int) (*Descriptor, [][]byte) {
	t.Helper()
	c, err := NewCoder(k, m)
	if err != nil {
		t.Fatal(err)
	}
	data := make([][]byte, used)
	for i := range data {
		data[i] = randBytes(rng, 1+rng.IntN(3000))
	}
	d, parity, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	all := make([][]byte, k+m)
	copy(all, data)
	copy(all[k:], parity)
	for i := used; i < k; i++ {
		all[i] = []byte{}
	}
	return d, all
}

func clone(s [][]byte) [][]byte {
	out := make([][]byte, len(s))
	for i, b := range s {
		out[i] = bytes.Clone(b)
	}
	return out
}

func TestReconstructAnyM(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, km := range [][2]int{{1, 1}, {1, 3}, {2, 1}, {4, 2}, {6, 3}, {10, 4}, {17, 3}} {
		k, m := km[0], km[1]
		for used := 1; used <= k; used += max(1, k/3) {
			t.Run(fmt.Sprintf("k%d_m%d_used%d", k, m, used), func(t *testing.T) {
				d, want := stripe(t, rng, k, m, used)
				for trial := range 20 {
					got := clone(want)
					lost := rng.Perm(k + m)[:m]
					for j, i := range lost {
						if j%2 == 0 || got[i] == nil || len(got[i]) == 0 {
							got[i] = nil
						} else {
							got[i][rng.IntN(len(got[i]))] ^= 0x40 // corrupt in place
						}
					}
					if _, err := Reconstruct(d, got, trial%2 == 0); err != nil {
						t.Fatalf("lost %v: %v", lost, err)
					}
					for i := range k {
						if !bytes.Equal(got[i], want[i]) {
							t.Fatalf("lost %v: data shard %d differs", lost, i)
						}
					}
					if trial%2 == 0 {
						for i := k; i < k+m; i++ {
							if !bytes.Equal(got[i], want[i]) {
								t.Fatalf("lost %v: parity shard %d differs", lost, i)
							}
						}
					}
				}
			})
		}
	}
}

func TestReconstructTooFew(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, km := range [][2]int{{1, 1}, {4, 2}, {10, 4}} {
		k, m := km[0], km[1]
		d, want := stripe(t, rng, k, m, k)
		got := clone(want)
		for _, i := range rng.Perm(k + m)[:m+1] {
			got[i] = nil
		}
		_, err := Reconstruct(d, got, false)
		var tf *TooFewShardsError
		if !errors.Is(err, ErrTooFewShards) || !errors.As(err, &tf) {
			t.Fatalf("k=%d m=%d: err = %v, want ErrTooFewShards", k, m, err)
		}
		if tf.Found != k-1 || tf.Need != k {
			t.Fatalf("found %d need %d, want %d and %d", tf.Found, tf.Need, k-1, k)
		}
		for i := range k {
			if got[i] != nil && !bytes.Equal(got[i], want[i]) {
				t.Fatalf("shard %d holds wrong bytes after a failed rebuild", i)
			}
		}
	}
}

func TestReconstructReportsCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	d, want := stripe(t, rng, 4, 2, 4)
	got := clone(want)
	got[1][0] ^= 1
	got[5] = got[5][:len(got[5])-1]
	corrupt, err := Reconstruct(d, got, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(corrupt) != "[1 5]" {
		t.Fatalf("corrupt = %v, want [1 5]", corrupt)
	}
	if err := Verify(d, 1, want[1]); err != nil {
		t.Fatal(err)
	}
	if err := Verify(d, 1, want[2]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of the wrong shard: %v", err)
	}
}

// TestReconstructVerified: with verified shards it rebuilds what
// Reconstruct rebuilds; handed a shard that is not what it claims, it
// fails on the rebuilt shard's ID rather than return wrong bytes.
func TestReconstructVerified(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	d, want := stripe(t, rng, 4, 2, 4)
	got := clone(want)
	got[0], got[5] = nil, nil
	if err := ReconstructVerified(d, got, true); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("shard %d rebuilt differently", i)
		}
	}
	bad := clone(want)
	bad[0], bad[2][0] = nil, bad[2][0]^1
	if err := ReconstructVerified(d, bad, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a corrupt input the caller claimed verified: %v, want ErrCorrupt", err)
	}
	if bad[0] != nil {
		t.Fatal("a rebuilt shard that does not match its ID was returned")
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, km := range [][2]int{{0, 1}, {1, 0}, {200, 57}, {-1, 2}} {
		if _, err := NewCoder(km[0], km[1]); err == nil {
			t.Errorf("NewCoder(%d, %d) succeeded", km[0], km[1])
		}
	}
	c, _ := NewCoder(2, 1)
	if _, _, err := c.Encode([][]byte{{1}, {2}, {3}}); err == nil {
		t.Error("Encode of 3 shards with k=2 succeeded")
	}
	if _, _, err := c.Encode([][]byte{{}, nil}); err == nil {
		t.Error("Encode of empty shards succeeded")
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	d, _ := stripe(t, rng, 6, 3, 4)
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDescriptor(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(d) {
		t.Fatalf("round trip changed the descriptor:\n%v\n%v", got, d)
	}
	// Every truncation is an error, never a panic.
	for n := range len(b) {
		if _, err := ParseDescriptor(b[:n]); !errors.Is(err, ErrDescriptor) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := ParseDescriptor(append(b, 0)); !errors.Is(err, ErrDescriptor) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}

func TestDescriptorRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	d, _ := stripe(t, rng, 3, 2, 3)
	for name, mutate := range map[string]func(d *Descriptor){
		"k zero":           func(d *Descriptor) { d.K = 0 },
		"m zero":           func(d *Descriptor) { d.M = 0 },
		"too many":         func(d *Descriptor) { d.K = 300 },
		"shard count":      func(d *Descriptor) { d.Shards = d.Shards[:4] },
		"data too big":     func(d *Descriptor) { d.Shards[0].Size = d.ShardSize + 1 },
		"parity short":     func(d *Descriptor) { d.Shards[4].Size-- },
		"size not largest": func(d *Descriptor) { d.ShardSize++; d.Shards[3].Size++; d.Shards[4].Size++ },
		"empty with id":    func(d *Descriptor) { d.Shards[0].Size = 0 },
		"zero shard size":  func(d *Descriptor) { d.ShardSize = 0 },
	} {
		c := *d
		c.Shards = append([]Shard(nil), d.Shards...)
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrDescriptor) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if _, err := c.MarshalBinary(); err == nil {
			t.Errorf("%s: marshaled an invalid descriptor", name)
		}
	}
	// A varint that encodes a small value in too many bytes is refused.
	b, _ := d.MarshalBinary()
	long := append([]byte{b[0], 0x83, 0x00}, b[2:]...)
	if _, err := ParseDescriptor(long); !errors.Is(err, ErrDescriptor) {
		t.Fatalf("non-canonical varint accepted: %v", err)
	}
}

func TestShardID(t *testing.T) {
	id := SumShard([]byte("murmur"))
	got, err := ParseShardID(id.String())
	if err != nil || got != id {
		t.Fatalf("ParseShardID(String) = %v, %v", got, err)
	}
	for _, s := range []string{"", "00", id.String()[:63] + "g", id.String() + "00"} {
		if _, err := ParseShardID(s); !errors.Is(err, ErrBadShardID) {
			t.Errorf("ParseShardID(%q) = %v", s, err)
		}
	}
	// BLAKE3-256 of the empty input, from the BLAKE3 test vectors.
	if got := SumShard(nil).String(); got != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatalf("SumShard(nil) = %s", got)
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, km := range [][2]int{{4, 2}, {10, 4}} {
		b.Run(fmt.Sprintf("k%d_m%d", km[0], km[1]), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			c, _ := NewCoder(km[0], km[1])
			data := make([][]byte, km[0])
			for i := range data {
				data[i] = randBytes(rng, 1<<20)
			}
			b.SetBytes(int64(km[0]) << 20)
			for b.Loop() {
				if _, _, err := c.Encode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReconstruct(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	c, _ := NewCoder(4, 2)
	data := make([][]byte, 4)
	for i := range data {
		data[i] = randBytes(rng, 1<<20)
	}
	d, parity, _ := c.Encode(data)
	b.SetBytes(4 << 20)
	for b.Loop() {
		shards := [][]byte{nil, data[1], nil, data[3], parity[0], parity[1]}
		if _, err := Reconstruct(d, shards, false); err != nil {
			b.Fatal(err)
		}
	}
}
