package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

var (
	update      = flag.Bool("update", false, "rewrite testdata/v1 (only when the v1 format itself was wrong)")
	updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")
)

// goldenDir holds files stored by format version 1, written as one batch:
// their shards, their sealed manifests and IDs, and the SHA-256 of each
// plaintext. Every later version must read them.
const goldenDir = "testdata/v1"

// goldenKeys are the fixed keys of the golden drive: master key bytes
// 0x00..0x1f, drive ID 0xa0..0xaf.
func goldenKeys() *crypt.Keys {
	var mk crypt.MasterKey
	var d crypt.DriveID
	for i := range mk {
		mk[i] = byte(i)
	}
	for i := range d {
		d[i] = 0xa0 + byte(i)
	}
	return mk.Keys(d)
}

// goldenInputs are one 48 KiB file and six small ones, so that small
// chunks share data shards, from ChaCha8 seeded with
// "murmur pipeline golden v1" (zero padded), in order.
func goldenInputs() [][]byte {
	var seed [32]byte
	copy(seed[:], "murmur pipeline golden v1")
	cha := chacha8(seed)
	var out [][]byte
	for _, n := range []int{48 << 10, 100, 700, 1500, 3000, 5000, 20} {
		b := make([]byte, n)
		cha.Read(b)
		out = append(out, b)
	}
	return out
}

var goldenConfig = pipeline.Config{Chunking: chunk.Params{Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}, K: 3, M: 2}

// loadGolden returns the golden shards in a store and the manifests.
func loadGolden(t *testing.T, keys *crypt.Keys) (*store.Mem, []*pipeline.Manifest) {
	t.Helper()
	st := store.NewMem(0)
	shards, err := filepath.Glob(filepath.Join(goldenDir, "shards", "*"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("no golden shards: %v", err)
	}
	for _, p := range shards {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := erasure.ParseShardID(filepath.Base(p))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(context.Background(), id, b); err != nil {
			t.Fatalf("golden shard %s: %v", filepath.Base(p), err)
		}
	}
	ids, err := os.ReadFile(filepath.Join(goldenDir, "manifests.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var ms []*pipeline.Manifest
	for i, line := range strings.Fields(string(ids)) {
		id, err := pipeline.ParseManifestID(line)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := os.ReadFile(filepath.Join(goldenDir, fmt.Sprintf("manifest-%d.sealed", i)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := pipeline.OpenManifest(keys, id, sealed)
		if err != nil {
			t.Fatalf("open v1 manifest %d: %v", i, err)
		}
		ms = append(ms, m)
	}
	return st, ms
}

func TestGoldenV1(t *testing.T) {
	cfg := goldenConfig
	cfg.Keys = goldenKeys()
	if *update {
		writeGolden(t, cfg)
	}
	st, ms := loadGolden(t, cfg.Keys)
	inputs := goldenInputs()
	sums, err := os.ReadFile(filepath.Join(goldenDir, "plain.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(inputs) || len(strings.Fields(string(sums))) != len(inputs) {
		t.Fatalf("golden holds %d manifests, want %d", len(ms), len(inputs))
	}
	packed := false
	for i, m := range ms {
		got, err := readAll(t, cfg, st, m)
		if err != nil {
			t.Fatalf("read v1 file %d: %v", i, err)
		}
		if !bytes.Equal(got, inputs[i]) {
			t.Fatalf("v1 file %d reads as %d bytes that differ from its input", i, len(got))
		}
		if s := sha256.Sum256(got); strings.Fields(string(sums))[i] != hex.EncodeToString(s[:]) {
			t.Fatalf("v1 file %d: SHA-256 differs from plain.sha256", i)
		}
		for _, c := range m.Chunks {
			packed = packed || c.Offset > 0
		}
	}
	if !packed {
		t.Fatal("no golden chunk shares a data shard: the packed layout is not pinned")
	}
	// Rebuilding from parity pins the Reed-Solomon code: lose the first
	// stored data shard of every stripe of the big file and read it again.
	lossy, _ := loadGolden(t, cfg.Keys)
	for _, d := range ms[0].Stripes {
		if err := lossy.Delete(context.Background(), d.Shards[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := readAll(t, cfg, lossy, ms[0]); err != nil || !bytes.Equal(got, inputs[0]) {
		t.Fatalf("v1 file rebuilt from parity: %d bytes, %v", len(got), err)
	}
	// Today's writer still cuts and names the same chunks.
	now := write(t, cfg, store.NewMem(0), inputs[0])
	for i := range ms[0].Chunks {
		if now.Chunks[i].ID != ms[0].Chunks[i].ID || now.Chunks[i].Size != ms[0].Chunks[i].Size {
			t.Fatalf("chunk %d is cut or named differently than in v1", i)
		}
	}
}

func writeGolden(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	if err := os.RemoveAll(goldenDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(goldenDir, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := store.NewMem(0)
	w, err := pipeline.NewWriter(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	var ids, sums strings.Builder
	for _, in := range goldenInputs() {
		if _, err := w.Add(context.Background(), bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(in)
		fmt.Fprintln(&sums, hex.EncodeToString(s[:]))
	}
	ms, err := w.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = st.Walk(context.Background(), func(id erasure.ShardID, _ int) error {
		b, err := st.Get(context.Background(), id)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(goldenDir, "shards", id.String()), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		id, sealed, err := pipeline.SealManifest(cfg.Keys, m)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&ids, id)
		if err := os.WriteFile(filepath.Join(goldenDir, fmt.Sprintf("manifest-%d.sealed", i)), sealed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range map[string]string{"manifests.txt": ids.String(), "plain.sha256": sums.String()} {
		if err := os.WriteFile(filepath.Join(goldenDir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteFuzzSeeds refreshes the committed seed corpora from the golden
// file when run with -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		return
	}
	cfg := goldenConfig
	cfg.Keys = goldenKeys()
	m := write(t, cfg, store.NewMem(0), goldenInputs()[0])
	plain, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	id, sealed, err := pipeline.SealManifest(cfg.Keys, m)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := (&pipeline.Manifest{}).MarshalBinary()
	hinted, _, _ := hintedManifest(t)
	hintedPlain, err := hinted.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string]string{
		"FuzzParseManifest/golden":   fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", plain),
		"FuzzParseManifest/empty":    fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", empty),
		"FuzzParseManifest/hinted":   fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", hintedPlain),
		"FuzzParseManifest/garbage":  "go test fuzz v1\n[]byte(\"\\x01\\xff\\xff\\xff\\xff\\x0f\")\n",
		"FuzzOpenManifest/golden":    fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", id[:], sealed),
		"FuzzOpenManifest/truncated": fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", id[:], sealed[:30]),
	}
	for name, body := range seeds {
		p := filepath.Join("testdata/fuzz", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
