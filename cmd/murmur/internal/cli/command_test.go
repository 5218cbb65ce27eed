package cli

import (
	"context"
	"flag"
	"io"
	"slices"
	"testing"
)

// TestFlagsAfterArguments: flags are parsed wherever they are, and "--"
// makes what follows arguments.
func TestFlagsAfterArguments(t *testing.T) {
	var target string
	var got []string
	c := &Command{Name: "x", Sub: []*Command{{
		Name:  "restore",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&target, "target", "", "") },
		Run: func(_ context.Context, fs *flag.FlagSet, _ io.Writer) error {
			got = fs.Args()
			return nil
		},
	}}}
	for _, tc := range []struct {
		args   []string
		target string
		rest   []string
	}{
		{[]string{"restore", "id", "--target", "d", "p"}, "d", []string{"id", "p"}},
		{[]string{"restore", "--target=d", "id"}, "d", []string{"id"}},
		{[]string{"restore", "id", "--", "--target", "-"}, "", []string{"id", "--target", "-"}},
		{[]string{"restore", "-", "--target", "d"}, "d", []string{"-"}},
	} {
		target, got = "", nil
		if err := c.Execute(context.Background(), tc.args, io.Discard); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if target != tc.target || !slices.Equal(got, tc.rest) {
			t.Errorf("%v: target %q, args %q", tc.args, target, got)
		}
	}
}
