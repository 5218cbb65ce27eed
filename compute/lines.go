package compute

import "bytes"

// Lines: a map task reads whole lines, as Hadoop's line reader does
// across splits, but without reading past its chunk: the worker runs the
// module over the chunk's whole lines only (Split) and hands the owner
// the partial lines at its two ends, which the owner joins with its
// neighbours' into the lines that cross chunk boundaries and runs itself
// (Joiner). The job's output is then, in input order, exactly what one
// run over each whole file would give for any module whose map output
// over a run of lines is the concatenation of its outputs over the parts
// (or whose reduce makes it so).

// Split cuts a chunk's plaintext into the partial line it starts with
// (head: up to and including the first line end; empty if the chunk
// starts its file), its whole lines (body), and the partial line it ends
// with (tail: after the last line end; empty if the chunk ends its file).
// A chunk with no line end that neither starts nor ends its file is all
// head, and continues: the line goes on into the next chunk.
func Split(p []byte, first, last bool) (head, body, tail []byte, continues bool) {
	start := 0
	if !first {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// No line ends here: all of it belongs to a line that
			// started before; it ends here only at the file's end.
			return p, nil, nil, !last
		}
		start = i + 1
		head = p[:start]
	}
	end := len(p)
	if !last {
		j := bytes.LastIndexByte(p[start:], '\n')
		end = start + j + 1 // j = -1: no whole line after the head
		tail = p[end:]
	}
	return head, p[start:end], tail, false
}

// Joiner assembles, at the owner, the lines that cross chunk boundaries
// of one file from its chunks' heads and tails, in order.
type Joiner struct{ carry []byte }

// Next takes the next chunk's head, tail and continues flag and returns
// the line that ended in its head (nil if none), to run before the
// chunk's own output.
func (j *Joiner) Next(head, tail []byte, continues bool) []byte {
	j.carry = append(j.carry, head...)
	if continues {
		return nil
	}
	line := j.carry
	j.carry = append([]byte(nil), tail...)
	if len(line) == 0 {
		return nil
	}
	return line
}

// Pending returns what is carried (a file's chunks must end with one
// whose last flag was set, which carries nothing).
func (j *Joiner) Pending() []byte { return j.carry }
