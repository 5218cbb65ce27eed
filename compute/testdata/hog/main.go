// Command hog asks for 1 GiB, 64 MiB at a time, past any task's memory
// limit.
package main

import "fmt"

func main() {
	var keep [][]byte
	for range 16 {
		b := make([]byte, 64<<20)
		b[len(b)-1] = 1
		keep = append(keep, b)
	}
	fmt.Println(len(keep))
}
