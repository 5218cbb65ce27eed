package drive

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/state"
	"github.com/murmur-cloud/murmur/pipeline"
)

// ErrNotUploaded: a file's latest contents are not in the cloud yet.
var ErrNotUploaded = errors.New("drive: the file's latest contents are not in the cloud yet")

// ErrNoPath: no file or folder by that name.
var ErrNoPath = errors.New("drive: no such file or folder")

// File is one regular file of the drive's tree as its last upload stored
// it: what a job over the drive's files reads (package compute).
type File struct {
	Path     string             // from the drive's root, slash-separated, no leading slash
	Size     int64              // bytes
	Manifest *pipeline.Manifest // nil for an empty file; must not be changed
}

// Files returns the regular files at paths (relative to the drive's root;
// "" or "/" is the root): a file itself, and a folder's regular files at
// any depth in path order, each file once, in the order of paths. Symlinks, special files and
// folders add nothing of their own; symlinks are not followed. A file
// whose latest contents are not uploaded yet fails with ErrNotUploaded,
// a name that is not there with ErrNoPath.
func (d *Drive) Files(paths []string) ([]File, error) {
	var out []File
	seen := map[fs.Ino]bool{}
	var err error
	d.t.Inspect(func(v fs.View) {
		var add func(ino fs.Ino, p string) error
		add = func(ino fs.Ino, p string) error {
			n, f, ok := v.Get(ino)
			if !ok {
				return fmt.Errorf("%w: %s", ErrNoPath, p)
			}
			switch n.Attr.Kind {
			case fs.Directory:
				for _, name := range slices.Sorted(maps.Keys(n.Entries)) {
					if err := add(n.Entries[name], path.Join(p, name)); err != nil {
						return err
					}
				}
			case fs.Regular:
				if seen[ino] {
					return nil
				}
				seen[ino] = true
				file := File{Path: p, Size: int64(n.Attr.Size)}
				sf, _ := f.(*state.File)
				var m *pipeline.Manifest
				dirty := false
				if sf != nil {
					_, m = sf.Base()
					dirty, _ = sf.Dirty()
				}
				switch {
				case dirty || v.Changed(ino) || (m == nil && file.Size > 0) || (m != nil && m.Size != file.Size):
					return fmt.Errorf("%w: %s (wait for its upload: murmur status shows what is pending)", ErrNotUploaded, p)
				case file.Size > 0:
					file.Manifest = m
				}
				out = append(out, file)
			}
			return nil
		}
		for _, p := range paths {
			clean := strings.Trim(path.Clean("/"+p), "/")
			ino := fs.RootIno
			if clean != "" {
				for name := range strings.SplitSeq(clean, "/") {
					n, _, ok := v.Get(ino)
					if !ok || n.Attr.Kind != fs.Directory {
						err = fmt.Errorf("%w: %s", ErrNoPath, p)
						return
					}
					if ino, ok = n.Entries[name]; !ok {
						err = fmt.Errorf("%w: %s", ErrNoPath, p)
						return
					}
				}
			}
			if err = add(ino, clean); err != nil {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
