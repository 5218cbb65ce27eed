#!/usr/bin/env bash
# Runs every go fuzz target in the module for the given time each (default 10s).
# The committed seed corpora under */testdata/fuzz run in every plain `go test`.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
n=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func \(Fuzz[A-Za-z0-9_]*\)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}' | sort -u); do
    echo "fuzz $pkg $f ($t)"
    # A failing input is written under testdata/fuzz: that is a real
    # failure. A failure without one is the fuzzing engine giving up on a
    # starved worker (seen on loaded 2-core machines): run it once more.
    if ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" > "$log" 2>&1; then
      if [ -n "$(git status --porcelain -- "$dir/testdata/fuzz/$f" 2>/dev/null)" ] ||
         ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" > "$log" 2>&1; then
        cat "$log"; echo "fuzz: $n passed, 1 failed"; exit 1
      fi
    fi
    n=$((n + 1))
  done
done
echo "fuzz: $n passed, 0 failed"
