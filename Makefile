# Weft. Two commands matter: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Node >= 22.19 for every target: the system one if new enough, else Node 24 from npm.
NODE_BIN := $(shell bash hack/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)
export npm_config_nodedir := $(abspath $(NODE_BIN)/..)
export npm_config_update_notifier := false
JEST := node --experimental-vm-modules node_modules/jest/bin/jest.js
APT_PACKAGES := iptables iproute2 openssl jq util-linux gcc libc6-dev

.PHONY: help deps apt-deps build lint typecheck test test-unit test-integration test-e2e \
        cluster-bins cluster-up cluster-down demo demo-down bench kind-up image clean

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

apt-deps: ## install the Debian packages the cluster and e2e need (root)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "[deps] apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

deps: apt-deps node_modules/.package-lock.json ## install everything (Debian packages, npm packages)

build: node_modules/.package-lock.json ## compile TypeScript to dist/ and the SO_ORIGINAL_DST addon to build/
	npx tsc -p tsconfig.json
	bash native/build.sh

typecheck: node_modules/.package-lock.json ## type-check without emitting
	npx tsc -p tsconfig.json --noEmit

lint: node_modules/.package-lock.json ## eslint with the house rules
	npx eslint .

cluster-bins: ## build kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok (cached by version)
	bash hack/build-cluster-bins.sh

cluster-up: apt-deps cluster-bins ## start the local cluster (idempotent)
	bash hack/cluster-up.sh

cluster-down: ## stop exactly the processes cluster-up started
	bash hack/cluster-down.sh

test-unit: build ## unit and golden tests (no cluster)
	$(JEST) --selectProjects unit

test-integration: build cluster-bins ## tests against the real local cluster
	$(JEST) --selectProjects integration --runInBand --forceExit

test-e2e: build cluster-bins ## real pods, real sidecars, real traffic
	$(JEST) --selectProjects e2e --runInBand --forceExit

test: deps build lint test-unit test-integration test-e2e ## everything CI runs

demo: deps build cluster-up ## the main job: start the cluster and show it
	bash hack/demo.sh

demo-down: ## remove everything `make demo` started (sample app, control plane, injector, process kubelet)
	bash hack/demo-mesh.sh down

bench: deps build ## benchmarks (not a pass/fail test)
	node dist/bench/run.js $(if $(QUICK),--quick,)

kind-up: ## for users WITH Docker: a kind cluster with the Weft image loaded (not run in CI)
	bash hack/kind-up.sh

image: ## docker build (needs a Docker engine)
	docker build -t weft:$$(node -p 'require("./package.json").version') .

clean:
	rm -rf dist
