// Command sha256sum hashes a file, whole or folded over its chunks; it is
// a murmur compute job (see package
// github.com/murmur-cloud/murmur/compute/examples for the job ABI).
//
//	job map   stdin: the whole file  stdout: "HEX  NAME\n"
//	job fold  stdin: one chunk       stdout: the new state (base64, one line),
//	                                 or "HEX  NAME\n" when MURMUR_FINAL=1
//
// MURMUR_STATE is the state of the previous chunk (standard base64 of the
// crypto/sha256 marshalled state; absent for the first chunk), MURMUR_NAME
// the file's name ("-" when absent).
package main

import (
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fail(2, "usage: sha256sum map|fold")
	}
	name := os.Getenv("MURMUR_NAME")
	if name == "" {
		name = "-"
	}
	h := sha256.New()
	final := true
	switch os.Args[1] {
	case "map":
	case "fold":
		if s, ok := os.LookupEnv("MURMUR_STATE"); ok {
			state, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				fail(2, "sha256sum fold: MURMUR_STATE is not base64: %v", err)
			}
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
				fail(2, "sha256sum fold: bad MURMUR_STATE: %v", err)
			}
		}
		final = os.Getenv("MURMUR_FINAL") == "1"
	default:
		fail(2, "sha256sum: unknown step %q (want map or fold)", os.Args[1])
	}
	if _, err := io.Copy(h, os.Stdin); err != nil {
		fail(1, "sha256sum: read: %v", err)
	}
	if err := emit(os.Stdout, h, final, name); err != nil {
		fail(1, "sha256sum: write: %v", err)
	}
}

func emit(w io.Writer, h hash.Hash, final bool, name string) error {
	if final {
		_, err := fmt.Fprintf(w, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
		return err
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, base64.StdEncoding.EncodeToString(state))
	return err
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}
