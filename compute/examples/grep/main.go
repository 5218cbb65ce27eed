// Command grep prints the lines matching a regular expression (Go RE2
// syntax, matched against the line without its '\n'); it is a murmur
// compute job (see package github.com/murmur-cloud/murmur/compute/examples
// for the job ABI). Lines of any length are supported.
//
//	job map PATTERN  stdin: lines        stdout: the matching lines, in order, each with '\n'
//	job reduce       stdin: map outputs  stdout: the same bytes
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
)

func main() {
	if len(os.Args) < 2 {
		fail(2, "usage: grep map PATTERN | grep reduce")
	}
	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	var err error
	switch os.Args[1] {
	case "map":
		if len(os.Args) != 3 {
			fail(2, "usage: grep map PATTERN")
		}
		re, rerr := regexp.Compile(os.Args[2])
		if rerr != nil {
			fail(2, "grep: bad pattern: %v", rerr)
		}
		err = grep(out, os.Stdin, re)
	case "reduce":
		_, err = io.Copy(out, os.Stdin)
	default:
		fail(2, "grep: unknown step %q (want map or reduce)", os.Args[1])
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fail(1, "grep %s: %v", os.Args[1], err)
	}
}

func grep(w *bufio.Writer, r io.Reader, re *regexp.Regexp) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte // a line longer than br's buffer, gathered
	for {
		frag, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, frag...)
			continue
		}
		line := frag
		if long != nil {
			long = append(long, frag...)
			line = long
		}
		if len(line) > 0 {
			text := bytes.TrimSuffix(line, []byte{'\n'})
			if re.Match(text) {
				w.Write(text)
				w.WriteByte('\n')
			}
		}
		long = long[:0:0]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}
