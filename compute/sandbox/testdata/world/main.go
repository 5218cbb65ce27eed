// Command world prints what it can learn of its world: the time, the
// monotonic clock, random values (math/rand, math/rand/v2, crypto/rand),
// map iteration order, its arguments and its environment.
package main

import (
	crand "crypto/rand"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"time"
)

func main() {
	start := time.Now()
	fmt.Println("now", start.UTC().Format(time.RFC3339Nano), start.UnixNano())
	time.Sleep(10 * time.Millisecond)
	fmt.Println("since", time.Since(start))
	fmt.Println("rand", rand.Int63(), randv2.Uint64())
	b := make([]byte, 16)
	crand.Read(b)
	fmt.Printf("crypto %x\n", b)
	m := map[int]bool{}
	for i := range 32 {
		m[i] = true
	}
	for k := range m {
		fmt.Print(k, " ")
	}
	fmt.Println()
	fmt.Println("args", os.Args)
	for _, e := range os.Environ() {
		fmt.Println("env", e)
	}
	_, err := os.Getwd()
	fmt.Println("getwd", err)
}
