# PPA — Predictive Pod Autoscaler. `make help` lists the targets.

SHELL := /usr/bin/env bash
GO ?= go
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)
PPA_TEST_BIN ?= $(CACHE)/ppa-test/bin
export PPA_TEST_BIN
export PATH := $(PPA_TEST_BIN):$(PATH)
BIN := bin
# Where `make images` writes the OCI image layouts (outside git).
PPA_IMAGES_DIR ?= $(CURDIR)/_out/images
export PPA_IMAGES_DIR
TEST_TIMEOUT ?= 40m
# Packages are ours: everything under the module, nothing in dependencies.
PKGS := ./...
# Modules of their own inside the tree, which `go test ./...` and `go vet
# ./...` in the root do not enter: the guest side (abi/, the ABI's Go
# rendering, and plugins/sdk/, the Go plugin SDK; the root requires both
# through a replace) and the Go example plugin, a plugin author's module.
# They must build for wasip1.
GUEST_MODULES := abi plugins/sdk plugins/examples/go

.DEFAULT_GOAL := help

##@ Getting started

.PHONY: demo
demo: plugins ## Replay the bundled NASA trace: reactive HPA vs PPA (policy learned from the trace's own history, no tuning flags) vs oracle; prints the table, writes demo.png.
	$(GO) run ./cmd/ppa simulate --data testdata/traces/nasa-http-1m.csv --capacity 20 --lead 5m --train 14d --sweep --plot demo.png

.PHONY: test
test: deps plugins lint images ## Run every test (unit, integration against real servers, end to end, image smoke test), then fuzz each decoder briefly.
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
	@set -e; for m in $(GUEST_MODULES); do echo "go test ./... (in $$m)"; $(GO) -C $$m test -count=1 -timeout $(TEST_TIMEOUT) ./...; done
	@$(MAKE) --no-print-directory fuzz

.PHONY: test-cluster
test-cluster: deps plugins ## Only the whole loop on a control plane of real components (test/cluster; part of make test): Model -> Argo -> runtime -> KEDA -> HPA -> Deployment, then faults.
	$(GO) test -count=1 -v -timeout $(TEST_TIMEOUT) ./test/cluster

# Every decoder of peer input, as PACKAGE:TARGET (a package of a guest
# module is fuzzed from that module). `go test` runs their seed corpora
# (and testdata/fuzz crashers); `make fuzz` mutates for FUZZTIME each.
FUZZ_TARGETS := \
	./abi:FuzzDecode \
	./host/runtime:FuzzRESTInferRequest \
	./host/runtime:FuzzRESTBinaryRequest \
	./host/runtime:FuzzGRPCInferRequest \
	./host/scaler:FuzzParseTrigger \
	./host/series:FuzzReadCSV \
	./host/store:FuzzManifest \
	./plugins/seasonalnaive:FuzzPredictModel
FUZZTIME ?= 10s

##@ Build

.PHONY: build
build: plugins ## Build the binaries into bin/.
	$(GO) build -o $(BIN)/ ./cmd/...

.PHONY: plugins
plugins: ## Build every Go plugin to plugins/builtin/wasm/<name>.wasm (embedded by the binaries).
	$(GO) run ./hack/buildplugins

.PHONY: images
images: plugins ## Build the four images (OCI layouts, linux/amd64+arm64) into $(PPA_IMAGES_DIR), without Docker; cached.
	bash hack/images.sh --out $(PPA_IMAGES_DIR)

.PHONY: examples
examples: ## Rebuild the C and AssemblyScript example plugins (needs clang, npm).
	bash plugins/examples/c/build.sh
	bash plugins/examples/assemblyscript/build.sh

##@ Development

.PHONY: deps
deps: ## Install what the tests need (Prometheus, MinIO, SeaweedFS, protoc, clang, helm, kube-apiserver + etcd, kube-controller-manager, kube-scheduler, KEDA, Argo, KWOK, kro, ko, crane, runc, the Python OIP clients); cached, idempotent.
	@# The installers build different Go programs or Python virtualenvs: run them
	@# side by side (a cold machine spends most of the time compiling) and fail if any fails.
	@# install-cluster follows install-envtest: its Kubernetes build reuses the
	@# packages kube-apiserver's build left in the Go build cache.
	@pids=(); for s in install-deps install-helm install-envtest+install-cluster install-imagetools install-pyclients install-seaweedfs install-kro; do \
		( for x in $${s//+/ }; do bash test/scripts/$$x.sh || exit 1; done ) > >(sed -u "s/^/[$$s] /") 2>&1 & pids+=($$!); \
	done; rc=0; for p in "$${pids[@]}"; do wait $$p || rc=1; done; exit $$rc

.PHONY: generate
generate: ## Regenerate generated code: OIP v2 protobuf, deepcopy, CRDs and RBAC.
	bash hack/gen-proto.sh
	bash hack/gen-k8s.sh

.PHONY: verify-generated
verify-generated: generate ## Fail when generated code is not up to date.
	@git diff --exit-code -- host/runtime/inferencepb api host/controller/rbac charts/ppa/files || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- host/runtime/inferencepb api host/controller/rbac charts/ppa/files)" || { echo "generate left new files: run 'make generate' and commit"; exit 1; }

.PHONY: fuzz
fuzz: ## Fuzz every decoder (ABI messages, OIP REST and gRPC requests, KEDA metadata, CSV, manifests) for FUZZTIME (10s) each.
	@GO=$(GO) FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh $(FUZZ_TARGETS)

.PHONY: lint
lint: ## gofmt, go vet, and go.mod tidy (the root module and each guest module; guest modules vetted for wasip1 too).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@$(GO) mod tidy -diff || { echo "go.mod is not tidy: run 'go mod tidy' and commit"; exit 1; }
	@set -e; for m in $(GUEST_MODULES); do \
		echo "go vet ./... (in $$m, native and GOOS=wasip1)"; \
		$(GO) -C $$m vet ./...; \
		GOOS=wasip1 GOARCH=wasm $(GO) -C $$m vet ./...; \
		$(GO) -C $$m mod tidy -diff || { echo "$$m/go.mod is not tidy: run 'go mod tidy' in $$m and commit"; exit 1; }; \
	done

.PHONY: golden
golden: ## Refit real Prophet (PyPI, pinned) and rewrite plugins/prophet/testdata/golden.
	bash plugins/prophet/golden/run.sh

.PHONY: bench
bench: plugins ## Run the benchmarks and print figures (engine, runtime, scaler, trainer, prophet, simulator).
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./host/engine ./host/runtime ./host/trainer ./host/simulate ./plugins/prophet ./host/backtest
	$(GO) test -run '^$$' -bench . ./host/scaler

.PHONY: bench-prophet
bench-prophet: plugins ## Prophet fit/predict: native vs wasm vs Python Prophet (if `make golden` made its venv), side by side.
	$(GO) run ./test/bench/prophet --runs 3

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
