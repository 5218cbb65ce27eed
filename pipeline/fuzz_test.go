package pipeline_test

import (
	"bytes"
	"testing"

	"github.com/murmur-cloud/murmur/pipeline"
)

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte{pipeline.ManifestV1, 0, 0, 0})
	f.Add([]byte{})
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
