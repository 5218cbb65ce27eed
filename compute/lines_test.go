package compute_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/murmur-cloud/murmur/compute"
)

// TestSplitJoin: for any file and any cut into chunks, the chunks' bodies
// interleaved with the joined boundary lines are the file's lines, each
// once, in order; no line is split.
func TestSplitJoin(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		file := randomLines(rng)
		cuts := randomCuts(rng, len(file))
		var got [][]byte
		var j compute.Joiner
		for i := range len(cuts) - 1 {
			p := file[cuts[i]:cuts[i+1]]
			head, body, tail, cont := compute.Split(p, i == 0, i == len(cuts)-2)
			if line := j.Next(head, tail, cont); line != nil {
				got = append(got, bytes.Clone(line))
			}
			got = append(got, splitLines(body)...)
		}
		if len(j.Pending()) != 0 {
			t.Fatalf("round %d: %q left over", round, j.Pending())
		}
		want := splitLines(file)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d lines, want %d (file %q cuts %v)", round, len(got), len(want), file, cuts)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("round %d: line %d = %q, want %q (file %q cuts %v)", round, i, got[i], want[i], file, cuts)
			}
		}
	}
}

// splitLines cuts b into lines, each with its '\n' (the last may lack one).
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

func randomLines(rng *rand.Rand) []byte {
	var b []byte
	for range rng.IntN(12) {
		n := rng.IntN(8)
		if rng.IntN(6) == 0 {
			n = rng.IntN(60) // a line longer than many chunks
		}
		for range n {
			b = append(b, 'a'+byte(rng.IntN(3)))
		}
		if rng.IntN(8) != 0 {
			b = append(b, '\n')
		}
	}
	return b
}

// randomCuts returns 0 = c0 < c1 < ... < cn = n (at least one chunk; an
// empty file is one empty chunk).
func randomCuts(rng *rand.Rand, n int) []int {
	cuts := []int{0}
	for at := 0; at < n; {
		at += 1 + rng.IntN(10)
		cuts = append(cuts, min(at, n))
	}
	if n == 0 {
		cuts = append(cuts, 0)
	}
	return cuts
}
