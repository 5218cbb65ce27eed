package pipeline_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte{pipeline.ManifestV1, 0, 0, 0})
	f.Add([]byte{})
	// A version 3 manifest: chunks compressed and under their own keys
	// (deterministic, so the seed is the same every run).
	v3 := pipeline.Config{Keys: testKeys(31), Chunking: small, Compress: true, Sealing: pipeline.SealContent}
	m, err := pipeline.Write(context.Background(), v3, store.NewMem(0), bytes.NewReader(bytes.Repeat([]byte("seed "), 10000)))
	if err != nil {
		f.Fatal(err)
	}
	enc, err := m.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := pipeline.ParseManifest(b)
		if err != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("a parsed manifest does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("parse/marshal is not the identity")
		}
	})
}

func FuzzOpenManifest(f *testing.F) {
	keys := testKeys(30)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, idb, sealed []byte) {
		var id pipeline.ManifestID
		copy(id[:], idb)
		m, err := pipeline.OpenManifest(keys, id, sealed)
		if err == nil && m.Validate() != nil {
			t.Fatal("OpenManifest returned an invalid manifest")
		}
	})
}
