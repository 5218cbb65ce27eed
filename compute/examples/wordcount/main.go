// Command wordcount counts words; it is a murmur compute job (see package
// github.com/murmur-cloud/murmur/compute/examples for the job ABI).
//
// Words are the runs of bytes between Unicode white space (as
// bufio.ScanWords splits them; invalid UTF-8 is kept as is). Both steps
// print "word\tcount\n" lines sorted bytewise by word.
//
//	job map     stdin: lines            stdout: the counts of its words
//	job reduce  stdin: map outputs      stdout: the summed counts
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
)

const maxToken = 64 << 20

func main() {
	if len(os.Args) != 2 {
		fail(2, "usage: wordcount map|reduce")
	}
	var counts map[string]uint64
	var err error
	switch os.Args[1] {
	case "map":
		counts, err = words(os.Stdin)
	case "reduce":
		counts, err = merge(os.Stdin)
	default:
		fail(2, "wordcount: unknown step %q (want map or reduce)", os.Args[1])
	}
	if err != nil {
		fail(1, "wordcount %s: %v", os.Args[1], err)
	}
	if err := write(os.Stdout, counts); err != nil {
		fail(1, "wordcount: write: %v", err)
	}
}

func words(r io.Reader) (map[string]uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 256<<10), maxToken)
	sc.Split(bufio.ScanWords)
	counts := map[string]uint64{}
	for sc.Scan() {
		counts[string(sc.Bytes())]++ // no allocation for words seen before
	}
	return counts, sc.Err()
}

func merge(r io.Reader) (map[string]uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 256<<10), maxToken+32)
	counts := map[string]uint64{}
	for sc.Scan() {
		word, n, ok := bytes.Cut(sc.Bytes(), []byte{'\t'})
		v, err := strconv.ParseUint(string(n), 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("bad map output line %q", sc.Text())
		}
		counts[string(word)] += v
	}
	return counts, sc.Err()
}

func write(w io.Writer, counts map[string]uint64) error {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bw := bufio.NewWriterSize(w, 256<<10)
	var num []byte
	for _, k := range keys {
		bw.WriteString(k)
		bw.WriteByte('\t')
		num = strconv.AppendUint(num[:0], counts[k], 10)
		bw.Write(num)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}
