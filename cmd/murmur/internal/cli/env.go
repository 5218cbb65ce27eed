package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// DefaultDir is where a machine's node lives unless --dir or MURMUR_DIR says.
func DefaultDir() string {
	if d := os.Getenv("MURMUR_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".murmur"
	}
	return filepath.Join(home, ".murmur")
}

// SocketPath is where the node (or murmur up) of a folder answers.
func SocketPath(dir string) string { return filepath.Join(dir, "murmur.sock") }

// NewLogger logs to standard error from level up, or from Debug if verbose.
func NewLogger(level slog.Level, verbose bool) *slog.Logger {
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// PrintJSON writes v to out as indented JSON; a nil slice is an empty
// list ([]), not null, so a listing's shape does not depend on its length.
func PrintJSON(out io.Writer, v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []struct{}{}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Quote returns s as is when every rune of it prints, else Go-quoted, so a
// name with control characters (a newline, an escape sequence) cannot
// garble a listing or a terminal.
func Quote(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}
