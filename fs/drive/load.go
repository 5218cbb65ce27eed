package drive

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/pipeline"
)

// sealRef seals the manifest of a super into a reference: its ID, then the
// sealed bytes.
func (d *Drive) sealRef(m *pipeline.Manifest) ([]byte, error) {
	id, sealed, err := pipeline.SealManifest(d.cfg.Keys, m)
	if err != nil {
		return nil, err
	}
	return append(id[:], sealed...), nil
}

func (d *Drive) openRef(ref []byte) (*pipeline.Manifest, error) {
	var id pipeline.ManifestID
	if len(ref) <= len(id) {
		return nil, fmt.Errorf("%w: super reference of %d bytes", fs.ErrDamaged, len(ref))
	}
	copy(id[:], ref)
	return pipeline.OpenManifest(d.cfg.Keys, id, ref[len(id):])
}

// readFile reads a whole pipeline file from the cloud.
func (d *Drive) readFile(ctx context.Context, m *pipeline.Manifest) ([]byte, error) {
	r, err := pipeline.NewReader(ctx, d.pipeConfig(), d.cfg.Cloud, m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(m.Size))
	if _, err := r.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadSuper reads the super a root's reference names.
func (d *Drive) loadSuper(ctx context.Context, ref []byte) (*format.Super, error) {
	m, err := d.openRef(ref)
	if err != nil {
		return nil, fmt.Errorf("fs: open the drive's super: %w", err)
	}
	b, err := d.readFile(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("fs: read the drive's super: %w", err)
	}
	return format.ParseSuper(b)
}

// loadPages reads every record of a super's pages: the inodes, and each
// regular file's manifest.
func (d *Drive) loadPages(ctx context.Context, s *format.Super) (map[fs.Ino]*fs.Node, map[fs.Ino][]byte, error) {
	nodes, manifests := map[fs.Ino]*fs.Node{}, map[fs.Ino][]byte{}
	for i, mb := range s.Pages {
		m, err := pipeline.ParseManifest(mb)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: page %d: %v", fs.ErrDamaged, i, err)
		}
		b, err := d.readFile(ctx, m)
		if err != nil {
			return nil, nil, fmt.Errorf("fs: read page %d: %w", i, err)
		}
		if err := format.ParsePage(b, i, func(r *format.Record) error {
			n := r.Node
			nodes[n.Attr.Ino] = &n
			if n.Attr.Kind == fs.Regular {
				manifests[n.Attr.Ino] = r.Manifest
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	return nodes, manifests, nil
}

// upload stores files through the pipeline in one batch, small ones
// packed together, and returns their manifests. A chunk idx knows (nil:
// none) is not stored again: the new manifest points where it lies.
func (d *Drive) upload(ctx context.Context, files []io.Reader, idx pipeline.Index) ([]*pipeline.Manifest, error) {
	if len(files) == 0 {
		return nil, nil
	}
	cfg := d.pipeConfig()
	cfg.Index = idx
	w, err := pipeline.NewWriter(cfg, d.cfg.Cloud)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, err := w.Add(ctx, f); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w.Finish(ctx)
}
