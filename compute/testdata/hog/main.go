// Command hog allocates and touches 1 GiB, past any task's memory limit.
package main

import "fmt"

func main() {
	var keep [][]byte
	for range 1024 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println(len(keep))
}
