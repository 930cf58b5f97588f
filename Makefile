# truesight: one static binary, built without cgo.
GO        ?= go
BIN       ?= bin/truesight
PKGS      ?= ./...
GOLANGCI_VERSION ?= v2.15.0
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
export CGO_ENABLED = 0
export TRUESIGHT_CONFORMANCE_DIR ?= $(abspath ../shared/conformance)

.PHONY: bench-enforce bench-fim bench-compare image image-arm64 helm-check all build test unit race lint deps bench bench-scan bench-replay run generate check-generated fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/truesight

# deps installs what the tests need on a fresh machine (apt packages, Go
# modules, golangci-lint). It is idempotent and fast when all is present.
deps:
	bash scripts/deps.sh

# test is what CI runs: setup, lint, then every test (kernel and container
# tests included; they need root).
test: deps lint check-generated unit

# Packages run one at a time (-p 1): the kernel and container tests of
# different packages each load an eBPF sensor that sees the whole machine,
# so running them side by side makes them see (and wait on) each other.
unit:
	$(GO) test -p 1 -count=1 -timeout 30m $(PKGS)

# race runs every test under the race detector (it needs cgo and gcc; the
# binary itself stays static).
race:
	CGO_ENABLED=1 $(GO) test -race -p 1 -count=1 -timeout 30m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOLANGCI_LINT_CACHE=$${GOLANGCI_LINT_CACHE:-$$(go env GOCACHE)/golangci-lint} $(GOBIN)/golangci-lint run --timeout 10m $(PKGS)

# bench runs the Go benchmarks and the live agent benchmark (root); the
# scan and replay comparisons with unhide and sysdig are separate targets.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	bash scripts/bench-live.sh

bench-scan:
	bash scripts/bench-scan.sh

bench-replay:
	bash scripts/bench-replay.sh

bench-enforce:
	bash scripts/bench-enforce.sh

bench-fim:
	bash scripts/bench-fim.sh

# bench-compare runs every comparison of docs/performance.md (root, about
# 30 minutes) and writes that file.
bench-compare: build
	bash scripts/bench-compare.sh

# run starts the agent with the embedded default rules (needs root).
run: build
	./$(BIN) run

# generate rebuilds the eBPF objects and vmlinux.h (needs clang, bpftool).
generate:
	$(GO) generate ./internal/sensor/...

# check-generated fails when the committed eBPF objects and tables differ
# from what the committed sources generate. It needs clang; without it the
# committed objects are used as they are.
check-generated:
	@if command -v clang >/dev/null 2>&1 && command -v llvm-strip >/dev/null 2>&1; then \
	  $(GO) generate ./internal/sensor/... && \
	  git diff --exit-code --stat -- internal/sensor || \
	  { echo "generated eBPF files are out of date: run make generate and commit"; exit 1; }; \
	else echo "check-generated: clang not installed, using the committed eBPF objects"; fi

FUZZFLAGS ?= -fuzztime 10m -fuzzminimizetime 3s -timeout 0
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse $(FUZZFLAGS) ./internal/condition/
	$(GO) test -run '^$$' -fuzz FuzzLoad $(FUZZFLAGS) ./internal/rules/
	$(GO) test -run '^$$' -fuzz FuzzRead $(FUZZFLAGS) ./internal/capture/
	$(GO) test -run '^$$' -fuzz FuzzReplay $(FUZZFLAGS) ./internal/replay/
	$(GO) test -run '^$$' -fuzz FuzzDecode $(FUZZFLAGS) ./internal/sensor/
	$(GO) test -run '^$$' -fuzz FuzzReadManifests $(FUZZFLAGS) ./internal/posture/
	$(GO) test -run '^$$' -fuzz FuzzParseSyscall $(FUZZFLAGS) ./internal/enforce/
	$(GO) test -run '^$$' -fuzz FuzzParseMountInfo $(FUZZFLAGS) ./internal/container/

clean:
	rm -rf bin

# image builds the agent's container image (FROM scratch: the binary and
# CA certificates) with podman from the binary build made, pulling nothing;
# tags localhost/truesight:VERSION and :latest.
IMAGE ?= localhost/truesight
image: build
	bash scripts/image.sh $(BIN) $(IMAGE)

# image-arm64 builds the arm64 binary. It fails today: the sensor's eBPF
# objects and syscall table are generated for x86_64 only
# (internal/sensor/gen.go); the Containerfile itself is arch-neutral.
image-arm64:
	GOARCH=arm64 $(GO) build -trimpath -ldflags "-s -w" -o bin/truesight-arm64 ./cmd/truesight

# helm-check lints the chart and renders it with the default values and
# each tier; the rendering tests decode every object strictly.
helm-check:
	$(GOBIN)/helm lint deploy/helm/truesight
	$(GOBIN)/helm template truesight deploy/helm/truesight >/dev/null
	$(GOBIN)/helm template truesight deploy/helm/truesight --set tier=enforce >/dev/null
	$(GO) test -count=1 -run 'Chart|Manifests' ./internal/deploytest/

# manifests renders the chart into deploy/kubernetes (one file per tier)
# for clusters without Helm; helm-check fails when they are stale.
manifests:
	bash scripts/manifests.sh
