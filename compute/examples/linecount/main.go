// Command linecount counts lines; it is a murmur compute job (see package
// github.com/murmur-cloud/murmur/compute/examples for the job ABI).
//
// A line is a run of bytes ending in '\n', or a final non-empty run
// without one: "a\nb" has 2 lines, "a\n" 1, "\n\n" 2, "" 0. So the count
// of a whole input equals the sum of the counts of its pieces split after
// any '\n'.
//
//	job map     stdin: lines            stdout: "N\n"
//	job reduce  stdin: map outputs      stdout: "SUM\n"
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 2 {
		fail(2, "usage: linecount map|reduce")
	}
	var n uint64
	var err error
	switch os.Args[1] {
	case "map":
		n, err = count(os.Stdin)
	case "reduce":
		n, err = sum(os.Stdin)
	default:
		fail(2, "linecount: unknown step %q (want map or reduce)", os.Args[1])
	}
	if err != nil {
		fail(1, "linecount %s: %v", os.Args[1], err)
	}
	if _, err := fmt.Printf("%d\n", n); err != nil {
		fail(1, "linecount: write: %v", err)
	}
}

func count(r io.Reader) (uint64, error) {
	buf := make([]byte, 256<<10)
	var n uint64
	last := byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += uint64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	return n, nil
}

func sum(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	var total uint64
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		v, err := strconv.ParseUint(string(sc.Bytes()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad map output line %q", sc.Text())
		}
		total += v
	}
	return total, sc.Err()
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}
