// Command grow allocates MiB mebibytes (argv[1], default 200) and touches
// every page, then prints "ok".
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	mib := 200
	if len(os.Args) > 1 {
		mib, _ = strconv.Atoi(os.Args[1])
	}
	var keep [][]byte
	for range mib {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println("ok", len(keep))
}
