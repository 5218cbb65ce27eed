# The README's commands. `make test` is what CI runs.
GO ?= go

.PHONY: build test race fuzz bench vet

build:
	$(GO) build -o bin/murmur ./cmd/murmur

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Everything: formatting, vet, the unit and conformance tests, the race
# detector over the concurrent packages, and a short run of every fuzz target.
# The race run over the drive's packages is a step of its own: it is
# CPU-heavy, and beside node's tests it starves the gossip tests' timing.
test: vet
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short ./pipeline/... ./store/... ./erasure/... ./node/... ./daemon/ ./client/ ./dashboard/ ./gossip/ ./backup/...
	$(GO) test -count=1 -race -short ./fs/ ./fs/format/ ./fs/state/ ./fs/drive/ ./internal/journal/ ./cmd/murmur/clientcmd/ ./repair/rebuild/
	$(GO) test -count=1 -race -short -skip 'TestCloudJobs|TestWrongOutputsOutvoted' ./compute/
	./scripts/fuzz.sh 5s

# Longer fuzzing: make fuzz FUZZTIME=5m
FUZZTIME ?= 60s
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench: build
	./bin/murmur bench pipeline
	$(GO) test -run '^$$' -bench . -benchtime 20x ./chunk/ ./crypt/ ./erasure/ ./pipeline/
