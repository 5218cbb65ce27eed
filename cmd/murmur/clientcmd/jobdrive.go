package clientcmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/pipeline"
)

// A job over a drive's files (`murmur job run --drive NAME PATH...`): this
// process unlocks the drive, lists the files at the paths as their last
// commit has them, and hands the node their manifests; the drive's keys
// stay here, and the node asks for each chunk's key (derived here from
// the chunk's key nonce a peer proved) while the job runs.

// driveJob is the drive side of a job over a drive's files.
type driveJob struct {
	f     openDriveFlags
	files []client.JobFile
}

// open unlocks the drive (read-only) and lists the files at paths.
func (dj *driveJob) open(ctx context.Context, paths []string, out io.Writer) error {
	d, _, _, err := dj.f.open(ctx, drive.Config{ReadOnly: true}, out)
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	fs, err := d.Files(paths)
	if err != nil {
		return err
	}
	if len(fs) == 0 {
		return fmt.Errorf("%w: no files under %q in the drive", drive.ErrNoPath, paths)
	}
	for _, f := range fs {
		jf := client.JobFile{Name: f.Path}
		if f.Manifest != nil {
			if jf.Manifest, err = f.Manifest.MarshalBinary(); err != nil {
				return err
			}
		}
		dj.files = append(dj.files, jf)
	}
	return nil
}

// derive answers one of the job's key requests with the drive's keys.
func (dj *driveJob) derive(r client.KeyRequest) ([]byte, error) {
	var c pipeline.ChunkRef
	if r.Nonce == nil {
		if len(r.Keyed) != len(c.Key) || [32]byte(r.Keyed) == c.Key {
			return nil, errors.New("a key request with neither a nonce nor a chunk key")
		}
		c.Key = [32]byte(r.Keyed)
	}
	k, err := pipeline.ChunkKey(pipeline.Config{Keys: dj.f.keys}, c, r.Nonce)
	if err != nil {
		return nil, err
	}
	return k.MarshalBinary()
}

// serve answers the job's key requests until it ends; errc gets why the
// answering stopped (nil: the job ended).
func (dj *driveJob) serve(ctx context.Context, c *client.Client, id string) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- c.ServeJobKeys(ctx, id, dj.derive) }()
	return errc
}
