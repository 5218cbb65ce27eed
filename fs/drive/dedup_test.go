package drive_test

import (
	"bytes"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
)

// TestEditUploadsAboutOneChunk: one byte changed in the middle of a
// large file stores about one chunk at the next commit, not the file
// again, and both versions read back (the new one from the drive, the
// old from its snapshot).
func TestEditUploadsAboutOneChunk(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	defer d.Close(t.Context())
	data := randBytes(3, 8<<20) // 128 chunks of the test chunking (64 KiB)
	ino := writeFile(t, d.Tree(), fs.RootIno, "big", data)
	mustCommit(t, d)
	before := e.cloud.(*cloudtest.Mem).Shards().Used()
	edited := bytes.Clone(data)
	edited[len(edited)/2] ^= 0xff
	if _, err := d.Tree().WriteAt(ino, edited[len(edited)/2:len(edited)/2+1], int64(len(edited)/2)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	grew := e.cloud.(*cloudtest.Mem).Shards().Used() - before
	t.Logf("the first commit stored %d bytes; one byte changed stored %d more", before, grew)
	// k=2 m=1: 1.5 bytes stored a byte; a chunk is at most 256 KiB, and
	// the commit's pages and super come with it.
	if grew > 1<<20 {
		t.Fatalf("one byte changed in 8 MiB stored %d bytes", grew)
	}
	if got := readFile(t, d.Tree(), fs.RootIno, "big"); !bytes.Equal(got, edited) {
		t.Fatal("the edited file reads back wrong")
	}
	// A second device reads the new version through the cloud.
	other := e.open(t.TempDir(), true)
	defer other.Close(t.Context())
	if got := readFile(t, other.Tree(), fs.RootIno, "big"); !bytes.Equal(got, edited) {
		t.Fatal("another device reads the edited file wrong")
	}
}
