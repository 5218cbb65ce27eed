// Command exit writes argv[2] to stderr and exits with code argv[1].
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	code, _ := strconv.Atoi(os.Args[1])
	fmt.Fprintln(os.Stderr, os.Args[2])
	os.Exit(code)
}
