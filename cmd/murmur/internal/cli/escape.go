package cli

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Escape returns name as a terminal may show it: unchanged when every
// character of it is printable, else quoted as a Go string ("a\nb"), as
// ls -b and git do, so that a name with a newline, an escape sequence or
// invalid UTF-8 can neither break a listing's lines nor drive the
// terminal.
func Escape(name string) string {
	if !utf8.ValidString(name) {
		return strconv.Quote(name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || r == '"' && name[0] == '"' {
			return strconv.Quote(name)
		}
	}
	return name
}
