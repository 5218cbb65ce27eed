package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

func TestSimDurability(t *testing.T) {
	out, err := run(t, "sim", "--scenario", "durability", "--nodes", "100", "--stripes", "300", "--days", "30", "--eager-days", "3", "--modes", "off,lazy")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"100 members, 300 stripes", "REPAIR", "\noff ", "\nlazy ", "Total Recall"} {
		if !strings.Contains(out, want) {
			t.Fatalf("sim durability output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\neager") {
		t.Fatalf("--modes off,lazy ran eager:\n%s", out)
	}
	if _, err := run(t, "sim", "--scenario", "durability", "--modes", "off,hasty"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("--modes off,hasty: %v, want a usage error", err)
	}
}
