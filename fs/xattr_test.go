package fs_test

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

func TestXattr(t *testing.T) {
	tr, c := newTree(t)
	inos := build(t, tr, "f", "d/", "l->f")
	f := inos["f"]
	if names, err := tr.ListXattr(f); err != nil || len(names) != 0 {
		t.Errorf("ListXattr of new file = %q, %v", names, err)
	}
	steps := []struct {
		name  string
		op    func() error
		want  syscall.Errno
		value map[string]string // f's attributes afterwards
	}{
		{"replace missing", func() error { return tr.SetXattr(f, "user.a", []byte("1"), fs.XattrReplace) }, syscall.ENODATA, map[string]string{}},
		{"create", func() error { return tr.SetXattr(f, "user.a", []byte("1"), fs.XattrCreate) }, 0, map[string]string{"user.a": "1"}},
		{"create existing", func() error { return tr.SetXattr(f, "user.a", []byte("2"), fs.XattrCreate) }, syscall.EEXIST, map[string]string{"user.a": "1"}},
		{"replace", func() error { return tr.SetXattr(f, "user.a", []byte("2"), fs.XattrReplace) }, 0, map[string]string{"user.a": "2"}},
		{"set either", func() error { return tr.SetXattr(f, "trusted.b", nil, 0) }, 0, map[string]string{"user.a": "2", "trusted.b": ""}},
		{"overwrite", func() error { return tr.SetXattr(f, "trusted.b", []byte("x"), 0) }, 0, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"both flags", func() error { return tr.SetXattr(f, "user.a", nil, fs.XattrCreate|fs.XattrReplace) }, syscall.EINVAL, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"unknown flag", func() error { return tr.SetXattr(f, "user.a", nil, 4) }, syscall.EINVAL, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"empty name", func() error { return tr.SetXattr(f, "", nil, 0) }, syscall.ERANGE, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"long name", func() error { return tr.SetXattr(f, strings.Repeat("n", 256), nil, 0) }, syscall.ERANGE, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"nul in name", func() error { return tr.SetXattr(f, "user.\x00", nil, 0) }, syscall.EINVAL, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"big value", func() error { return tr.SetXattr(f, "user.big", make([]byte, 64<<10+1), 0) }, syscall.E2BIG, map[string]string{"user.a": "2", "trusted.b": "x"}},
		{"remove", func() error { return tr.RemoveXattr(f, "user.a") }, 0, map[string]string{"trusted.b": "x"}},
		{"remove missing", func() error { return tr.RemoveXattr(f, "user.a") }, syscall.ENODATA, map[string]string{"trusted.b": "x"}},
		{"remove bad name", func() error { return tr.RemoveXattr(f, "") }, syscall.ERANGE, map[string]string{"trusted.b": "x"}},
		{"longest name, largest value", func() error {
			return tr.SetXattr(f, strings.Repeat("n", 255), make([]byte, 64<<10), 0)
		}, 0, map[string]string{"trusted.b": "x", strings.Repeat("n", 255): string(make([]byte, 64<<10))}},
	}
	for _, s := range steps {
		before := attr(t, tr, f)
		err := s.op()
		if fs.Errno(err) != s.want {
			t.Fatalf("%s: %v, want errno %v", s.name, err, s.want)
		}
		after := attr(t, tr, f)
		if s.want == 0 && after.Ctime != c.Last() || s.want != 0 && after != before {
			t.Errorf("%s: attributes %+v -> %+v", s.name, before, after)
		}
		names, err := tr.ListXattr(f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for k := range s.value {
			want = append(want, k)
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: ListXattr = %q, want %q", s.name, names, want)
		}
		for k, v := range s.value {
			got, err := tr.GetXattr(f, k)
			if err != nil || string(got) != v {
				t.Errorf("%s: GetXattr %q = %q, %v; want %q", s.name, k, got, err, v)
			}
		}
	}

	// Values are copied both ways.
	v := []byte("abc")
	tr.SetXattr(f, "user.c", v, 0)
	v[0] = 'X'
	got, _ := tr.GetXattr(f, "user.c")
	got[1] = 'Y'
	if again, _ := tr.GetXattr(f, "user.c"); string(again) != "abc" {
		t.Errorf("stored value aliased: %q", again)
	}

	// Directories and symlinks have attributes too; missing inodes do not.
	for _, i := range []fs.Ino{inos["d"], inos["l"], fs.RootIno} {
		wantErrno(t, tr.SetXattr(i, "user.k", []byte("v"), 0), 0)
		if got, err := tr.GetXattr(i, "user.k"); err != nil || string(got) != "v" {
			t.Errorf("GetXattr on %d = %q, %v", i, got, err)
		}
	}
	_, err := tr.GetXattr(f, "user.none")
	wantErrno(t, err, syscall.ENODATA)
	_, err = tr.GetXattr(f, "")
	wantErrno(t, err, syscall.ERANGE)
	wantErrno(t, tr.SetXattr(999, "user.k", nil, 0), syscall.ENOENT)
	_, err = tr.GetXattr(999, "user.k")
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.ListXattr(999)
	wantErrno(t, err, syscall.ENOENT)
	wantErrno(t, tr.RemoveXattr(999, "user.k"), syscall.ENOENT)
}
