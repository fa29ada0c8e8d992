# edged — developer targets. Go is the only requirement.
#
#   make run         demo: demo origin (127.0.0.1:9000) + edged (127.0.0.1:8080, admin :8081)
#   make run-shield  demo: origin + shield edged (:8090/:8091, purge bus :8092) + edge edged (:8080/:8081);
#                    the README's "Edge → shield → origin" commands
#   make run-forward demo: origin + edged as a forward proxy (127.0.0.1:3128, admin :3129);
#                    try curl -x http://127.0.0.1:3128 http://127.0.0.1:9000/
#   make test        go vet, then the whole suite with -race
#   make bench       micro-benchmarks, then edged side by side with nginx, Varnish and the Go ceiling
#                    (and its forward role beside Squid)
#   make bench-quick the side-by-side run in quick mode (under 3 minutes)
#   make fuzz        every fuzz target for FUZZTIME (default 30s) each
#   make lint        gofmt, go vet, staticcheck
#   make build       binaries into ./bin
#   make pathcount   which files and functions of package edge one cache hit and one miss run

GO       ?= go
BIN      ?= bin
DATA     ?= ./data
FUZZTIME ?= 30s

.PHONY: all build run run-shield run-forward test bench bench-quick fuzz lint clean

all: lint test

build:
	$(GO) build -o $(BIN)/ ./edge/cmd/... ./tools/...

run: build
	$(BIN)/demo -bin $(BIN) -data $(DATA)

run-shield: build
	$(BIN)/demo -shield -bin $(BIN) -data $(DATA)

run-forward: build
	$(BIN)/demo -forward -bin $(BIN) -data $(DATA)

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 14m ./...
# The race detector makes sync.Pool drop items, so TestHitAllocations skips
# under -race; it runs once more without it, or make test would never check
# the hit path's allocation budget.
	$(GO) test -count=1 -run '^TestHitAllocations$$' ./edge/
# Under -race internal/rawio goes through package syscall (the detector
# needs its annotations), so the raw system calls a node really makes are
# tested only here: the packages whose connections use them, without -race.
	$(GO) test -count=1 ./internal/rawio/ ./edge/fastserve/ ./origin/

# bench: Go micro-benchmarks, then edged side by side with nginx, Varnish and
# the Go ceiling (bench/cmd/edgebench; results in bench/results/latest.md and
# latest.svg). bench-quick: the side-by-side run only, in quick mode.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./bench/cmd/edgebench

bench-quick:
	BENCH_QUICK=1 $(GO) run ./bench/cmd/edgebench

# `go test -list` prints each package's Fuzz targets, then "ok <package> <time>".
fuzz:
	@set -e; list=$$($(GO) test -list '^Fuzz' ./...); \
	echo "$$list" | awk '/^Fuzz/ { f[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }' | \
	while read -r pkg target; do \
		echo "== $$target ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# pathcount: builds tools/pathcount with coverage of package edge, serves one
# hit and one miss through it and lists the files and functions each ran.
.PHONY: pathcount
pathcount:
	$(GO) run ./tools/pathcount

clean:
	rm -rf $(BIN)
