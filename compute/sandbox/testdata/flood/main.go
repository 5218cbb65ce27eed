// Command flood writes MiB mebibytes (argv[1], default 10) to stdout.
package main

import (
	"bufio"
	"os"
	"strconv"
)

func main() {
	mib := 10
	if len(os.Args) > 1 {
		mib, _ = strconv.Atoi(os.Args[1])
	}
	w := bufio.NewWriter(os.Stdout)
	line := make([]byte, 1024)
	for i := range line {
		line[i] = 'x'
	}
	line[len(line)-1] = '\n'
	for range mib << 10 {
		if _, err := w.Write(line); err != nil {
			os.Exit(1)
		}
	}
	if err := w.Flush(); err != nil {
		os.Exit(1)
	}
}
