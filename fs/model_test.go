package fs_test

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/fstest"
)

var (
	long      = flag.Bool("long", false, "run the randomized model test for 20000 steps per seed (about two minutes each)")
	modelSeed = flag.Uint64("seed", 0, "run the randomized model test with this seed only")
)

// memEnv is a tree in memory, for the model.
type memEnv struct{ tr *fs.Tree }

func (e memEnv) Tree() *fs.Tree { return e.tr }

// TestModel runs the randomized model test (fs/fstest) over a tree in
// memory. fs/drive runs it over the real state directory, with crashes.
func TestModel(t *testing.T) {
	steps := 3000
	if *long {
		steps = 20_000
	}
	seeds := []uint64{1, 2, 3, 4}
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			c := &clock{t: time.Unix(1_700_000_000, 0)}
			tr, err := fs.New(fs.Config{Clock: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			fstest.Run(t, memEnv{tr}, fstest.Options{Seed: seed, Steps: steps})
		})
	}
}
