package chunk_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"lukechampine.com/blake3"

	"github.com/murmur-cloud/murmur/chunk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the current code")

const goldenPath = "testdata/golden.json"

// goldenSeed seeds the ChaCha8 stream (math/rand/v2) whose first bytes are
// the golden inputs. It is exactly 32 bytes.
const goldenSeed = "murmur chunk golden vector v1..."

// golden is the layout of testdata/golden.json.
type golden struct {
	Comment string `json:"comment"`
	// GearBlake3 is the unkeyed BLAKE3-256 of the gear table, each entry
	// as 8 little-endian bytes, to tell a changed table from a changed rule.
	GearBlake3 string       `json:"gear_blake3"`
	Key        string       `json:"key"`
	Cases      []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name   string       `json:"name"`
	Params chunk.Params `json:"params"`
	// InputLen bytes of the ChaCha8 stream, whose unkeyed BLAKE3-256 is
	// InputBlake3 (a mismatch there means the generator changed, not the
	// chunking).
	InputLen    int        `json:"input_len"`
	InputBlake3 string     `json:"input_blake3"`
	Lengths     []int      `json:"lengths"`
	IDs         []chunk.ID `json:"ids"`
}

// makeGolden computes the golden vectors from the current code.
func makeGolden(t *testing.T) golden {
	t.Helper()
	var key [32]byte
	for i := range key {
		key[i] = byte(i)
	}
	var gearBytes []byte
	for _, v := range chunk.Gear() {
		gearBytes = binary.LittleEndian.AppendUint64(gearBytes, v)
	}
	gearSum := blake3.Sum256(gearBytes)
	g := golden{
		Comment: "Pins the chunk boundary rule and chunk IDs (see doc.go). Input: the first input_len bytes " +
			"of math/rand/v2 ChaCha8 seeded with the 32 bytes \"" + goldenSeed + "\". " +
			"IDs are keyed with key (bytes 0x00..0x1f). Regenerate with go test ./chunk -run TestGolden -update, " +
			"only for a deliberate format change.",
		GearBlake3: hex.EncodeToString(gearSum[:]),
		Key:        hex.EncodeToString(key[:]),
	}
	h := chunk.NewHasher(key)
	data := randBytes(goldenSeed, 8<<20)
	for _, tc := range []struct {
		name string
		p    chunk.Params
		n    int
	}{
		{"default params, 8 MiB", chunk.DefaultParams(), 8 << 20},
		{"small params, 1 MiB", smallParams, 1 << 20},
	} {
		in := data[:tc.n]
		sum := blake3.Sum256(in)
		c := goldenCase{Name: tc.name, Params: tc.p, InputLen: tc.n, InputBlake3: hex.EncodeToString(sum[:])}
		for _, b := range mustChunk(t, in, tc.p) {
			c.Lengths = append(c.Lengths, len(b))
			c.IDs = append(c.IDs, h.Sum(b))
		}
		g.Cases = append(g.Cases, c)
	}
	return g
}

func TestGolden(t *testing.T) {
	got := makeGolden(t)
	if *update {
		js, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
		return
	}
	js, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("reading golden vectors: %v", err)
	}
	var want golden
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("parsing %s: %v", goldenPath, err)
	}
	if got.GearBlake3 != want.GearBlake3 {
		t.Errorf("gear table changed: BLAKE3 %s, golden %s", got.GearBlake3, want.GearBlake3)
	}
	if got.Key != want.Key {
		t.Fatalf("key %s, golden %s", got.Key, want.Key)
	}
	if len(got.Cases) != len(want.Cases) {
		t.Fatalf("%d cases, golden has %d", len(got.Cases), len(want.Cases))
	}
	for i, g := range got.Cases {
		w := want.Cases[i]
		if g.Name != w.Name || g.Params != w.Params || g.InputLen != w.InputLen {
			t.Errorf("case %d is %q %v %d bytes, golden has %q %v %d bytes", i, g.Name, g.Params, g.InputLen, w.Name, w.Params, w.InputLen)
			continue
		}
		if g.InputBlake3 != w.InputBlake3 {
			t.Errorf("%s: the input generator changed (input BLAKE3 %s, golden %s)", g.Name, g.InputBlake3, w.InputBlake3)
			continue
		}
		if len(g.IDs) != len(w.IDs) || len(w.Lengths) != len(w.IDs) {
			t.Errorf("%s: %d chunks, golden has %d lengths and %d IDs", g.Name, len(g.IDs), len(w.Lengths), len(w.IDs))
		}
		for j := range min(len(g.IDs), len(w.IDs), len(w.Lengths)) {
			if g.Lengths[j] != w.Lengths[j] {
				t.Errorf("%s: chunk %d is %d bytes, golden %d: the boundary rule changed", g.Name, j, g.Lengths[j], w.Lengths[j])
				break
			}
			if g.IDs[j] != w.IDs[j] {
				t.Errorf("%s: chunk %d has ID %v, golden %v: the ID function changed", g.Name, j, g.IDs[j], w.IDs[j])
				break
			}
		}
	}
}
