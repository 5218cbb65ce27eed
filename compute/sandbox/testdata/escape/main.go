// Command escape tries to reach the host: it reads a host file, creates
// one (argv[1]), and dials TCP (argv[2]). Each failure is printed to stderr; it
// exits 3 when all failed and 0 when any succeeded.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	escaped := false
	if f, err := os.Open("/etc/passwd"); err != nil {
		fmt.Fprintln(os.Stderr, "open failed:", err)
	} else {
		f.Close()
		escaped = true
		fmt.Println("opened /etc/passwd")
	}
	if f, err := os.Create(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "create failed:", err)
	} else {
		f.Close()
		escaped = true
		fmt.Println("created", os.Args[1])
	}
	if c, err := net.Dial("tcp", os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "dial failed:", err)
	} else {
		c.Close()
		escaped = true
		fmt.Println("dialled")
	}
	if !escaped {
		os.Exit(3)
	}
}
