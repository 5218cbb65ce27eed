package cli

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":       "photo.jpg",
		"a b/ç.txt":       "a b/ç.txt",
		"line\nbreak":     `"line\nbreak"`,
		"\x1b[31mred":     `"\x1b[31mred"`,
		"bad\xffutf8":     `"bad\xffutf8"`,
		"tab\there":       `"tab\there"`,
		`"quoted".txt`:    `"\"quoted\".txt"`,
		`mid"quote`:       `mid"quote`,
		"zero\u200bwidth": `"zero\u200bwidth"`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %s, want %s", in, got, want)
		}
	}
}
