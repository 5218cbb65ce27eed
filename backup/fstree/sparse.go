package fstree

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// holeBlock is the unit of sparseness: a 4 KiB-aligned run of zero bytes
// this long is not written.
const holeBlock = 4096

var zeroBlock [holeBlock]byte

// writeSparse copies size bytes from contents to f, leaving a hole for
// every 4 KiB-aligned block of zeros.
func (r *Restorer) writeSparse(f *os.File, contents io.Reader, size int64) error {
	for off := int64(0); off < size; {
		chunk := r.buf[:min(int64(len(r.buf)), size-off)]
		if n, err := io.ReadFull(contents, chunk); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("%w: contents end after %d of %d bytes", io.ErrUnexpectedEOF, off+int64(n), size)
			}
			return &os.PathError{Op: "read contents", Path: f.Name(), Err: err}
		}
		for i := 0; i < len(chunk); {
			j := i // the first non-zero block from i
			for j < len(chunk) && isZero(chunk[j:min(j+holeBlock, len(chunk))]) {
				j += holeBlock
			}
			k := j // the first zero block after it
			for k < len(chunk) && !isZero(chunk[k:min(k+holeBlock, len(chunk))]) {
				k += holeBlock
			}
			k = min(k, len(chunk))
			if k > j {
				if _, err := f.WriteAt(chunk[j:k], off+int64(j)); err != nil {
					return err
				}
			}
			i = k
		}
		off += int64(len(chunk))
	}
	return nil
}

func isZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }
