//go:build race

package fstree_test

const raceEnabled = true
