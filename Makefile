# graphjob's build, test and benchmark targets. `make help` lists them.

GO        ?= go
BIN       ?= bin/graphjob
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 1s

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the graphjob binary into bin/ (static, as in the image).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/graphjob

IMAGE ?= ghcr.io/graphjob/graphjob:$(VERSION)

.PHONY: image
image: ## Build the container image IMAGE (needs Docker): the binary as `make build` makes it, on distroless, non-root.
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: test
test: fmt-check vet unit e2e parity ## Run all tests: formatting, vet, unit tests, end-to-end tests on a real control plane, LangGraph's cases beside LangGraph JS.

.PHONY: unit
unit: ## Run the Go tests with the race detector, end-to-end tests excepted (-short).
	$(GO) test -race -short -count=1 ./...

.PHONY: e2e
e2e: testbin ## Run the end-to-end tests: real etcd, kube-apiserver, controllers, scheduler, a process kubelet.
	$(GO) test -race -count=1 -timeout 40m ./e2e/...

.PHONY: parity
parity: testbin ## Run LangGraph's test cases on graphjob and on LangGraph JS (pinned by parity/package-lock.json), side by side.
	$(GO) test -count=1 ./parity

.PHONY: soak
soak: testbin ## Soak the scheduler for SOAK (default 10m): replicas and backfills killed at random, every slot checked.
	GRAPHJOB_SOAK=$(or $(SOAK),10m) $(GO) test ./e2e -run '^TestSoak$$' -count=1 -v -timeout 2h

.PHONY: cluster-up
cluster-up: build testbin ## Start a control plane and a process kubelet on 127.0.0.1 and print KUBECONFIG; Ctrl-C stops it.
	$(GO) run ./e2e/cmd/cluster-up

.PHONY: testbin
testbin: ## Build (once per machine and version) the pinned Kubernetes, etcd and MinIO binaries e2e runs, and install LangGraph JS.
	$(GO) run ./e2e/testbin/cmd/testbin

.PHONY: bench
bench: ## Run the benchmarks (BENCHTIME=1s by default).
	$(GO) test -short -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

.PHONY: bench-e2e
bench-e2e: testbin ## Run the benchmarks against the real control plane (Jobs created per second).
	$(GO) test ./e2e -run '^$$' -bench . -benchtime $(or $(BENCHTIME_E2E),1000x)

.PHONY: fuzz
fuzz: ## Fuzz the YAML loader, CEL compilation, the checkpoint decoders and schedules for FUZZTIME each (default 60s).
	$(GO) test ./spec -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),60s)
	$(GO) test ./spec -run '^$$' -fuzz '^FuzzExpression$$' -fuzztime $(or $(FUZZTIME),60s)
	$(GO) test ./checkpoints -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(or $(FUZZTIME),60s)
	$(GO) test ./scheduler -run '^$$' -fuzz '^FuzzSchedule$$' -fuzztime $(or $(FUZZTIME),60s)

.PHONY: lint
lint: ## Run the pinned golangci-lint (go.mod tool directive).
	$(GO) tool golangci-lint run ./...

.PHONY: fmt
fmt: ## Format the Go sources.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt-check
fmt-check: ## Fail if any Go source is not gofmt-formatted.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...
