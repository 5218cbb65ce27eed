#!/usr/bin/env bash
# Runs every go fuzz target in the module for the given time each (default 10s).
# The committed seed corpora under */testdata/fuzz run in every plain `go test`.
set -euo pipefail
t=${1:-10s}
cd "$(dirname "$0")/.."
n=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func \(Fuzz[A-Za-z0-9_]*\)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}' | sort -u); do
    echo "fuzz $pkg $f ($t)"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" > /tmp/murmur-fuzz.log 2>&1 || {
      cat /tmp/murmur-fuzz.log; echo "fuzz: $n passed, 1 failed"; exit 1; }
    n=$((n + 1))
  done
done
echo "fuzz: $n passed, 0 failed"
