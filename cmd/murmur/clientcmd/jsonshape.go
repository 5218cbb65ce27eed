package clientcmd

import "github.com/murmur-cloud/murmur/backup"

// The JSON of murmur's listings (--json) is documented in docs/cli.md:
// snake_case keys, sizes in bytes, times in RFC 3339, a list as [] when
// empty. Types here give that shape to values whose own packages do not.

// statsJSON is a snapshot's backup.Stats in murmur's JSON: the keys of
// murmur backup --json.
type statsJSON struct {
	Files     uint64 `json:"files"`
	Dirs      uint64 `json:"dirs"`
	Others    uint64 `json:"others"`
	Bytes     uint64 `json:"bytes"`
	Read      uint64 `json:"read_bytes"`
	NewChunks uint64 `json:"new_chunks"`
	NewBytes  uint64 `json:"new_bytes"`
	Errors    uint64 `json:"errors"`
}

func statsOf(s backup.Stats) statsJSON {
	return statsJSON{s.Files, s.Dirs, s.Others, s.Bytes, s.Read, s.NewChunks, s.NewBytes, s.Errors}
}
