# kubeseed — make help lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Builds of Kubernetes, etcd and images are cached here, keyed by version, outside the repo.
export KUBESEED_CACHE ?= $(HOME)/.cache/kubeseed

GO ?= go
CONTROLLER_GEN := $(GO) tool controller-gen
# golangci-lint lives in its own tool module so its dependencies never leak into ours.
GOLANGCI_LINT := $(GO) tool -modfile=hack/tools/go.mod golangci-lint

# Read from pkg/versions, the one place versions are declared.
K8S_VERSIONS = $(shell $(GO) run ./hack/versions supported)
ENVTEST_K8S_VERSION = $(shell $(GO) run ./hack/versions envtest)
ETCD_VERSION = $(shell $(GO) run ./hack/versions etcd)
ENVTEST_ASSETS = $(KUBESEED_CACHE)/envtest/$(ENVTEST_K8S_VERSION)-etcd-$(ETCD_VERSION)
SEED_K8S_VERSION = $(shell $(GO) run ./hack/versions seed)
DEFAULT_K8S_VERSION = $(shell $(GO) run ./hack/versions default)
FLANNEL_VERSION = $(shell $(GO) run ./hack/versions flannel)
KUBE_ROUTER_VERSION = $(shell $(GO) run ./hack/versions kube-router)
CNI_PLUGINS_VERSION = $(shell $(GO) run ./hack/versions cni-plugins)
SEED := $(KUBESEED_CACHE)/bin/seed

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./apis/...

.PHONY: manifests
manifests: ## Generate CRDs and the manager's RBAC into config/, and copy them into charts/kubeseed.
	$(CONTROLLER_GEN) crd paths=./apis/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=kubeseed-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac
	@# The chart carries copies, not links: helm package and go:embed both need real files.
	@mkdir -p charts/kubeseed/crds charts/kubeseed/files
	@rm -f charts/kubeseed/crds/*.yaml
	cp config/crd/bases/*.yaml charts/kubeseed/crds/
	cp config/rbac/role.yaml charts/kubeseed/files/role.yaml

.PHONY: api-docs
api-docs: ## Generate the API reference docs/reference/api.md from the CRDs and the API's Go types.
	$(GO) run ./hack/api-docs -crds config/crd/bases -types apis/kubeseed/v1alpha1 -out docs/reference/api.md
	@# Run by verify-generated (API_DOCS_VERIFY below): the page must be committed as generated.
	@if [ -n "$(API_DOCS_VERIFY)" ] && [ -n "$$(git status --porcelain -- docs/reference)" ]; then echo "docs/reference/api.md is stale: run 'make api-docs' and commit" >&2; exit 1; fi

# verify-generated checks the API reference too; its git diff covers the other generated files.
verify-generated: API_DOCS_VERIFY = 1

.PHONY: verify-generated
verify-generated: generate manifests api-docs ## Fail when generated files are not committed up to date.
	@git diff --exit-code -- apis config/crd config/rbac charts/kubeseed/crds charts/kubeseed/files || { echo "generated files are stale: run 'make generate manifests' and commit" >&2; exit 1; }

.PHONY: fmt
fmt: ## Format the code.
	$(GOLANGCI_LINT) fmt

# Nested modules, which ./... of the main module skips: each is vetted, linted and tested
# on its own. NESTED_TAGS are the build tags of their tests (make test adds envtest).
NESTED_MODULES := cmd/kubeseed-autoscaler
NESTED_TAGS ?=

.PHONY: vet
vet: ## Run go vet (the main module and the nested ones).
	$(GO) vet -tags envtest,e2e ./...
	@for m in $(NESTED_MODULES); do echo "vet: $$m"; (cd $$m && $(GO) vet -tags envtest ./...); done

.PHONY: lint
lint: ## Run golangci-lint (the main module and the nested ones).
	$(GOLANGCI_LINT) run ./...
	@# The linter is the main module's tool, run inside each nested module with its config.
	@for m in $(NESTED_MODULES); do echo "lint: $$m"; (cd $$m && $(GO) tool -modfile=$(CURDIR)/hack/tools/go.mod golangci-lint run --config=$(CURDIR)/.golangci.yml ./...); done

##@ Offline toolchain

.PHONY: k8s-bins
k8s-bins: ## Build every Kubernetes component and etcd for each supported version (cached).
	@for v in $(K8S_VERSIONS); do hack/k8s-bins.sh $$v; done
	@hack/etcd-bin.sh $(ETCD_VERSION)
	@echo "k8s-bins: $(KUBESEED_CACHE)/k8s/{$$(echo $(K8S_VERSIONS) | tr ' ' ,)} and $(KUBESEED_CACHE)/etcd/$(ETCD_VERSION)"

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, kubectl, etcd and cert-manager for envtest (cached).
	@hack/k8s-bins.sh $(ENVTEST_K8S_VERSION) kube-apiserver kubectl
	@hack/etcd-bin.sh $(ETCD_VERSION)
	@hack/cert-manager-bin.sh
	@mkdir -p $(ENVTEST_ASSETS)
	@ln -sf $(KUBESEED_CACHE)/k8s/$(ENVTEST_K8S_VERSION)/kube-apiserver $(ENVTEST_ASSETS)/kube-apiserver
	@ln -sf $(KUBESEED_CACHE)/k8s/$(ENVTEST_K8S_VERSION)/kubectl $(ENVTEST_ASSETS)/kubectl
	@ln -sf $(KUBESEED_CACHE)/etcd/$(ETCD_VERSION)/etcd $(ENVTEST_ASSETS)/etcd

##@ Local seed

.PHONY: seed-deps
seed-deps: ## Install containerd, runc, CNI plugins, iptables and ipset from Debian (root).
	@hack/seed-deps.sh

.PHONY: seed-bins
seed-bins: ## Build the seed's Kubernetes components, etcd, CoreDNS, cert-manager, local-path, the pod network's (cached).
	@# Every supported version: tenants are made at any and upgraded between them (cached).
	@for v in $(K8S_VERSIONS); do hack/k8s-bins.sh $$v; done
	@hack/etcd-bin.sh $(ETCD_VERSION)
	@hack/coredns-bin.sh
	@hack/cert-manager-bin.sh
	@hack/local-path-bin.sh
	@hack/cni-bins.sh $(FLANNEL_VERSION) $(KUBE_ROUTER_VERSION) $(CNI_PLUGINS_VERSION)

.PHONY: seed-tool
seed-tool:
	@# With the release: the seed tool tags the CNI helper's image as the manager expects it.
	@$(GO) build -ldflags='$(VERSION_LDFLAGS)' -o $(SEED) ./hack/seed

.PHONY: seed-up
seed-up: seed-deps seed-bins seed-tool ## Start the local single-node seed (idempotent).
	@$(SEED) up

.PHONY: seed-down
seed-down: seed-tool ## Stop the local seed and remove everything it left on the machine.
	@$(SEED) down

.PHONY: seed-kubeconfig
seed-kubeconfig: seed-tool ## Print the path of the seed's admin kubeconfig (use with make -s).
	@$(SEED) kubeconfig

.PHONY: demo
demo: seed-up manager-image tunnel-image autoscaler-image ## The main job: a local seed, the operator from its chart and a live TenantCluster.
	@$(GO) build -o $(KUBESEED_CACHE)/bin/kubeseed ./cmd/kubeseed
	@SEED=$(SEED) KUBECTL=$(KUBESEED_CACHE)/k8s/$(SEED_K8S_VERSION)/kubectl KUBESEED=$(KUBESEED_CACHE)/bin/kubeseed hack/demo.sh

##@ Test

.PHONY: test
test: envtest-assets ## Run unit and envtest integration tests (the nested modules' too).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test -tags envtest ./... -count=1
	@KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(MAKE) --no-print-directory test-nested NESTED_TAGS=envtest

# FUZZTIME is how long `make fuzz` (CI's) feeds each fuzz target mutations of its corpus;
# KUBESEED_FUZZ_SEED=<n> replays a run (its seed is printed).
FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: envtest-assets ## Fuzz TenantCluster and WorkerPool specs through the apiserver and the controllers (envtest) for FUZZTIME.
	KUBESEED_FUZZ_TIME=$(FUZZTIME) KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test -tags envtest -count=1 \
		-run '^Fuzz(TenantCluster|WorkerPool)Spec$$' ./controllers/tenantcluster/ ./controllers/workerpool/

# The Magnum driver's unit tests (contrib/magnum): Python, against Debian's Magnum 15.0.1
# (installed with the test cloud's packages).
.PHONY: test-magnum
test-magnum: ## Run the Magnum driver's Python unit tests (installs the test cloud's packages once; root).
	@hack/openstack/install.sh
	cd contrib/magnum && /usr/bin/python3 -m unittest discover -s tests

.PHONY: test-unit
test-unit: test-nested ## Run the pure unit tests (no envtest assets needed), the nested modules' too.
	$(GO) test ./... -count=1

.PHONY: test-nested
test-nested: ## Vet and test the nested modules (cmd/kubeseed-autoscaler), with NESTED_TAGS.
	@for m in $(NESTED_MODULES); do echo "test: $$m"; (cd $$m && $(GO) vet -tags "$(NESTED_TAGS)" ./... && $(GO) test -tags "$(NESTED_TAGS)" ./... -count=1); done

.PHONY: bench-autoscaler
bench-autoscaler: ## The autoscaler's cost per pass: 3 pools, 30 nodes, 300 pods, 100 pending (CPU, heap).
	cd cmd/kubeseed-autoscaler && $(GO) test ./internal/plan/ -run '^$$' -bench BenchmarkPlan -benchmem -count=3

.PHONY: test-e2e
test-e2e: seed-up manager-image tunnel-image autoscaler-image openstack-up ## Run the e2e tests on the local seed and the OpenStack test cloud, take both down, check they left nothing.
	@status=0; \
	clouds=$$(hack/openstack/clouds.sh) && set -a && . "$$(dirname "$$clouds")/openstack.env" && set +a && \
	$(GO) test ./pkg/openstack/ -run Integration -count=1 -timeout 20m || status=1; \
	$(GO) test -tags e2e ./e2e/ -count=1 -timeout 65m -parallel 3 -json | $(GO) run ./hack/testsummary || status=1; \
	$(MAKE) --no-print-directory density DENSITY_MAX=3 || status=1; \
	$(SEED) down || status=1; \
	hack/openstack/down.sh || status=1; \
	$(GO) test -tags e2e ./e2e/teardown/ -count=1 || status=1; \
	exit $$status

# CI starts from nothing: a seed or test cloud left on the machine (by a run that was killed,
# or a developer's) would carry its tenants, namespaces and load into the run.
.PHONY: ci-fresh
ci-fresh: seed-tool dataplane-down
	$(SEED) down
	hack/openstack/down.sh

.PHONY: ci
ci: ci-fresh verify-generated vet lint test test-magnum fuzz bench-operator-scale-smoke test-e2e ## Everything CI runs: generated files, vet, lint, every test tier, the fuzz targets and the benches' smoke runs.

# The operator-scale bench at CI's size: it fails when 20 tenants do not all become Ready
# and stay so (a manager that no longer settles), and prints the figures.
.PHONY: bench-operator-scale-smoke
bench-operator-scale-smoke:
	@$(MAKE) --no-print-directory bench-operator-scale N=20 OPERATOR_SCALE_FLAGS="-settle 10s -window 30s"

##@ Benchmarks

# DENSITY_MAX caps `make density` at that many tenants; 0 is no cap. test-e2e runs it at 3, as
# a smoke test that fails when not even the first tenant becomes Ready.
DENSITY_MAX ?= 0

# N TenantClusters for bench-operator-scale; CI runs it at 20 with a short settle and window.
N ?= 100
OPERATOR_SCALE_FLAGS ?=

.PHONY: bench-operator-scale
bench-operator-scale: envtest-assets ## The manager's cost per settled tenant (RSS, CPU, reconciles, requests) with N tenants on envtest.
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) run ./hack/bench/operator-scale -n $(N) $(OPERATOR_SCALE_FLAGS)

.PHONY: density
density: seed-up manager-image tunnel-image autoscaler-image ## Tiny tenants on the local seed, one at a time, until one is slow to be Ready, memory is 90% used or DENSITY_MAX.
	@# The operator is (re)installed as for demo, idempotently: the e2e suite leaves it installed with its own values.
	@$(GO) build -o $(KUBESEED_CACHE)/bin/kubeseed ./cmd/kubeseed
	@SEED=$(SEED) KUBESEED=$(KUBESEED_CACHE)/bin/kubeseed hack/operator-up.sh
	$(GO) run ./hack/bench/density -max $(DENSITY_MAX)

##@ OpenStack test cloud

# A real (Zed) OpenStack on this machine from Debian's packages, with no data plane, for
# pkg/openstack's integration test: docs/test-cloud.md. Root; state, logs, clouds.yaml here.
export KUBESEED_OPENSTACK_DIR ?= /var/lib/kubeseed-openstack

.PHONY: openstack-up
openstack-up: ## Install (once) and start the OpenStack test cloud (idempotent; root).
	@hack/openstack/install.sh
	@hack/openstack/up.sh

.PHONY: openstack-down
openstack-down: ## Stop the OpenStack test cloud and remove its state (databases, logs, clouds.yaml).
	@hack/openstack/down.sh

# The data plane the test cloud lacks, on its own (the e2e runs its own): the customer's
# worker servers run as machines of the local seed and Octavia VIPs forward, for trying
# WorkerPools and Magnum by hand (docs/magnum.md).
DATAPLANE_DIR = $(KUBESEED_CACHE)/dataplane

.PHONY: dataplane-up
dataplane-up: seed-up openstack-up ## Run the data-plane harness in the background (worker servers boot as machines; VIPs forward).
	@mkdir -p $(DATAPLANE_DIR)
	@$(GO) build -o $(KUBESEED_CACHE)/bin/dataplane ./hack/dataplane
	@if hack/dataplane/running.sh $(DATAPLANE_DIR)/pid; then \
		echo "dataplane: already running (pid $$(cat $(DATAPLANE_DIR)/pid), log $(DATAPLANE_DIR)/log)"; \
	else \
		KUBESEED_OPENSTACK_CLOUDS=$$(hack/openstack/clouds.sh) nohup $(KUBESEED_CACHE)/bin/dataplane >$(DATAPLANE_DIR)/log 2>&1 & \
		echo $$! >$(DATAPLANE_DIR)/pid; sleep 3; \
		hack/dataplane/running.sh $(DATAPLANE_DIR)/pid || { tail -5 $(DATAPLANE_DIR)/log >&2; echo "dataplane: exited at start; log $(DATAPLANE_DIR)/log" >&2; exit 1; }; \
		echo "dataplane: started (pid $$(cat $(DATAPLANE_DIR)/pid), log $(DATAPLANE_DIR)/log)"; \
	fi

.PHONY: dataplane-down
dataplane-down: ## Stop the data-plane harness; it removes its machines and VIPs.
	@if hack/dataplane/running.sh $(DATAPLANE_DIR)/pid; then \
		pid=$$(cat $(DATAPLANE_DIR)/pid); kill $$pid; \
		for i in $$(seq 1 180); do kill -0 $$pid 2>/dev/null || break; sleep 1; done; \
		if kill -0 $$pid 2>/dev/null; then echo "dataplane: pid $$pid did not stop within 180s" >&2; exit 1; fi; \
		echo "dataplane: stopped"; \
	fi; rm -f $(DATAPLANE_DIR)/pid

.PHONY: magnum-kubeconfig
magnum-kubeconfig: seed-tool ## Give the test cloud's Magnum a kubeconfig for the local seed (kubeseed-magnum; after make demo and openstack-up).
	@SEED=$(SEED) KUBECTL=$(KUBESEED_CACHE)/k8s/$(SEED_K8S_VERSION)/kubectl hack/magnum-kubeconfig.sh

.PHONY: openstack-clouds
openstack-clouds: ## Print the path of the test cloud's clouds.yaml; openstack.env beside it (use with make -s).
	@hack/openstack/clouds.sh

.PHONY: test-openstack
test-openstack: openstack-up ## Run pkg/openstack's integration test against the OpenStack test cloud.
	@clouds=$$(hack/openstack/clouds.sh) && set -a && . "$$(dirname "$$clouds")/openstack.env" && set +a && \
	$(GO) test ./pkg/openstack/ -run Integration -count=1 -v -timeout 20m

##@ Build

.PHONY: build
build: ## Build the manager and the kubeseed CLI into bin/.
	$(GO) build -o bin/ ./cmd/...

# VERSION is the kubeseed release the manager and tunnel are built as (versions.Kubeseed):
# the tag of kubeseed's own images, which a manager deploys at its own release only. Local
# builds are "dev"; a release builds with VERSION=<tag> and the chart's appVersion set alike.
VERSION ?= dev
VERSION_LDFLAGS := -X github.com/kubeseed/kubeseed/pkg/versions.Kubeseed=$(VERSION)

# The manager image: a static binary FROM scratch, under the name charts/kubeseed defaults
# to, as a docker archive next to the seed's other images (the local seed imports them all).
MANAGER_IMAGE ?= kubeseed/manager:$(VERSION)
MANAGER_BIN := $(KUBESEED_CACHE)/bin/kubeseed-manager
MANAGER_IMAGE_TAR := $(KUBESEED_CACHE)/images/kubeseed-manager.tar
IMAGE_ARCH = $(shell $(GO) env GOARCH)

.PHONY: manager-image
manager-image: ## Build the manager image kubeseed/manager:$VERSION (dev) into $KUBESEED_CACHE/images (cached).
	@# -trimpath and no cgo make the binary reproducible, so an unchanged tree repacks nothing.
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags='-s -w $(VERSION_LDFLAGS)' -o $(MANAGER_BIN) ./cmd/manager
	$(GO) run ./hack/manager-image -binary $(MANAGER_BIN) -out $(MANAGER_IMAGE_TAR) -image $(MANAGER_IMAGE) -arch $(IMAGE_ARCH)

# The tunnel image: kubeseed-tunnel FROM scratch, the tenant apiserver's tunnel-server sidecar
# and the tenant's agents (docs/tunnel.md), imported by the local seed like the manager's.
TUNNEL_IMAGE ?= kubeseed/tunnel:$(VERSION)
TUNNEL_BIN := $(KUBESEED_CACHE)/bin/kubeseed-tunnel
TUNNEL_IMAGE_TAR := $(KUBESEED_CACHE)/images/kubeseed-tunnel.tar

.PHONY: tunnel-image
tunnel-image: ## Build the tunnel image kubeseed/tunnel:$VERSION (dev) into $KUBESEED_CACHE/images (cached).
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags='-s -w $(VERSION_LDFLAGS)' -o $(TUNNEL_BIN) ./cmd/kubeseed-tunnel
	$(GO) run ./hack/manager-image -binary $(TUNNEL_BIN) -out $(TUNNEL_IMAGE_TAR) -image $(TUNNEL_IMAGE) -arch $(IMAGE_ARCH) -entrypoint /kubeseed-tunnel

# The autoscaler image: kubeseed-autoscaler FROM scratch, which the manager runs in the
# control-plane namespace of every tenant with an autoscaled WorkerPool (docs/autoscaling.md).
# Its own module (cmd/kubeseed-autoscaler/go.mod), so it is built from its directory.
AUTOSCALER_IMAGE ?= kubeseed/autoscaler:$(VERSION)
AUTOSCALER_BIN := $(KUBESEED_CACHE)/bin/kubeseed-autoscaler
AUTOSCALER_IMAGE_TAR := $(KUBESEED_CACHE)/images/kubeseed-autoscaler.tar

.PHONY: autoscaler-image
autoscaler-image: ## Build the autoscaler image kubeseed/autoscaler:$VERSION (dev) into $KUBESEED_CACHE/images (cached).
	cd cmd/kubeseed-autoscaler && CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags='-s -w' -o $(AUTOSCALER_BIN) .
	$(GO) run ./hack/manager-image -binary $(AUTOSCALER_BIN) -out $(AUTOSCALER_IMAGE_TAR) -image $(AUTOSCALER_IMAGE) -arch $(IMAGE_ARCH) -entrypoint /kubeseed-autoscaler
