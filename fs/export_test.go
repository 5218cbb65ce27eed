package fs

import "context"

// WriteFirstHalf is the part of WriteAtContext before it retakes Tree.mu
// to set the size (finishWrite): the contents are written. Used to
// replay, deterministically, a commit that runs between the two halves.
func WriteFirstHalf(t *Tree, ino Ino, p []byte, off int64) (finish func()) {
	t.mu.Lock()
	n := t.nodes[ino]
	t.mu.Unlock()
	if err := n.file.WriteAt(context.Background(), p, off); err != nil {
		panic(err)
	}
	return func() { t.finishWrite(n, off+int64(len(p))) }
}
