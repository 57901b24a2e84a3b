# Bindery's build, test and demo entry points. Everything a target needs is
# built or installed by the target itself, into .cache/ (git-ignored).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

ROOT        := $(CURDIR)
CACHE       := $(ROOT)/.cache
TOOLS_BIN   := $(CACHE)/tools
BIN         := $(ROOT)/bin
MODULES     := apis backend konnector cli test
# Only modules that hold Go code yet, so go does not warn about empty patterns.
PKGS        := $(foreach m,$(MODULES),$(if $(shell find $(m) -name '*.go' -print -quit 2>/dev/null),./$(m)/...))

# Pinned versions. KUBE_VERSION must match test/framework.KubeVersion.
KUBE_VERSION           ?= v1.35.4
ETCD_VERSION           ?= v3.6.16
CONTROLLER_GEN_VERSION ?= v0.20.1
STATICCHECK_VERSION    ?= v0.8.2
GOTESTSUM_VERSION      ?= v1.13.0
HELM_VERSION           ?= v3.22.0

ENVTEST_DIR    := $(CACHE)/envtest/$(KUBE_VERSION)
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
STATICCHECK    := $(TOOLS_BIN)/staticcheck-$(STATICCHECK_VERSION)
GOTESTSUM      := $(TOOLS_BIN)/gotestsum-$(GOTESTSUM_VERSION)
HELM           := $(TOOLS_BIN)/helm-$(HELM_VERSION)

export KUBEBUILDER_ASSETS := $(ENVTEST_DIR)
export KUBE_VERSION ETCD_VERSION
# The tests install the charts with this helm.
export HELM

# The version of a build: the charts' appVersion, which is what kubectl
# bind deploys by default (see hack/release.sh).
VERSION := $(shell sed -n 's/^appVersion: *//p' konnector/deploy/chart/Chart.yaml)
LDFLAGS := -X github.com/bindery-dev/bindery/apis/version.Version=$(VERSION)

TEST_TIMEOUT ?= 40m
# -count=1: the integration and e2e tests build and run the programs as
# processes, which Go's test cache does not see, so a cached pass could
# hide a change to them.
GO_TEST_FLAGS ?= -count=1

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build every program into bin/.
	@mkdir -p $(BIN)
	@for main in $$(ls -d */cmd/*/ 2>/dev/null); do \
		name=$$(basename $$main); \
		echo "go build -o bin/$$name ./$$main"; \
		go build -ldflags "$(LDFLAGS)" -o $(BIN)/$$name ./$$main; \
	done

.PHONY: images
images: ## Build the konnector and backend images as OCI archives into _output/images, offline.
	@go -C test run ./cmd/bindery-images --root $(ROOT) --out $(ROOT)/_output/images --version $(VERSION) --revision "$$(git rev-parse HEAD 2>/dev/null)"

.PHONY: release
release: $(HELM) ## Build a release into _output/release: images, charts, kubectl-bind archives, krew manifest.
	@hack/release.sh

##@ Test

.PHONY: test
test: envtest test-deps $(GOTESTSUM) $(HELM) verify-generate check-repo ## Run unit, integration and e2e tests (installs what is missing first).
	@status=0; stamp=$$(mktemp); \
	$(GOTESTSUM) --format pkgname-and-test-fails --format-hide-empty-pkg -- \
		-timeout $(TEST_TIMEOUT) $(GO_TEST_FLAGS) $(PKGS) || status=$$?; \
	hack/check-leftovers.sh "$(CACHE)" "$$stamp" || status=1; \
	rm -f "$$stamp"; exit $$status

.PHONY: envtest
envtest: ## Build etcd, kube-apiserver and kube-controller-manager from source into .cache/envtest.
	@ENVTEST_DIR=$(ENVTEST_DIR) hack/envtest.sh >/dev/null

.PHONY: test-deps
test-deps: ## Install Chromium and the npm oidc-provider for the login tests.
	@hack/test-deps.sh

.PHONY: bench
BENCH_PKGS ?= ./konnector/cmd/konnector ./konnector/internal/objectsync ./backend/cmd/bindery-backend ./cli/internal/cmd ./test/framework
# The konnector's benchmarks alone took 50 minutes on a day this 2-core
# machine ran at half its speed; the timeout is for a hang, not a slow day.
BENCH_TIMEOUT ?= 120m
bench: envtest test-deps $(HELM) ## Run the benchmarks against real API servers, then the e2e suite for its wall time, and print their figures.
	@{ go test -run '^$$' -bench . -benchtime 1x -timeout $(BENCH_TIMEOUT) $(BENCH_PKGS); \
	   go test -count=1 -json -run . -timeout 30m ./test/e2e | go -C test run ./cmd/e2e-walltime; } | hack/bench-report.sh

.PHONY: fuzz
FUZZTIME ?= 30s
fuzz: ## Run every fuzz target for FUZZTIME each (not part of make test).
	@FUZZTIME=$(FUZZTIME) hack/fuzz.sh

##@ Code quality

.PHONY: lint
lint: $(STATICCHECK) check-repo ## gofmt, tidy modules, go vet, staticcheck, and no binaries in git.
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@# Each module builds on its own too (go install, a vendor's build), not only in the workspace.
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy -diff >/dev/null) || { echo "$$m/go.mod is not tidy: cd $$m && GOWORK=off go mod tidy"; exit 1; }; done
	go vet $(PKGS)
	$(STATICCHECK) $(PKGS)

.PHONY: check-repo
check-repo: ## Fail when git tracks a binary or a file over 1 MB.
	@hack/check-repo.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code and CRD manifests.
	@CONTROLLER_GEN=$(CONTROLLER_GEN) hack/generate.sh

.PHONY: verify-generate
GENERATED := apis/crds/*.yaml apis/bindery/v1alpha1/zz_generated.deepcopy.go
verify-generate: generate ## Fail when generated files are stale.
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard -- $(GENERATED))" ]; then \
		echo "generated files are stale; run 'make generate' and commit:"; git diff --stat -- $(GENERATED); \
		git ls-files --others --exclude-standard -- $(GENERATED); exit 1; \
	else echo "verify-generate: generated files are up to date"; fi

##@ Demo

.PHONY: demo
demo: build envtest ## Run the app team's journey locally until Ctrl-C (DEMO_AUTO_LOGIN=1 logs in headlessly).
	@if [ "$${DEMO_AUTO_LOGIN:-}" = 1 ]; then hack/test-deps.sh; fi
	@$(BIN)/bindery-demo --bin-dir $(BIN) --state-dir $(CACHE)/demo

.PHONY: demo-down
demo-down: ## Stop a running demo and everything it started.
	@hack/demo-down.sh $(CACHE)/demo/demo.pid

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(TOOLS_BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS_BIN)/controller-gen $@

$(STATICCHECK):
	GOBIN=$(TOOLS_BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS_BIN)/staticcheck $@

$(HELM):
	GOBIN=$(TOOLS_BIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS_BIN)/helm $@

$(GOTESTSUM):
	GOBIN=$(TOOLS_BIN) go install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mv $(TOOLS_BIN)/gotestsum $@

.PHONY: clean
clean: ## Remove bin/ (keeps the .cache of built binaries and tools).
	rm -rf $(BIN)
