// Command loop spins forever; the sandbox must stop it at its deadline.
package main

func main() {
	n := 0
	for {
		n++
	}
}
