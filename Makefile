# rollboot developer entry points. `make test` and `make demo` are the README's contract.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv controlplane prometheus images-deps images realnodes-deps argocd-deps argocd lint types unit integration test cluster crds chart bench mutants demo clean

# Extra arguments for `make demo`, e.g. make demo DEMO_ARGS="--nodes 20 --max-concurrent 4 --reboot-seconds 2"
DEMO_ARGS ?=

help:
	@echo "make demo     a rolling reboot of simulated nodes on the local control plane (DEMO_ARGS=--help)"
	@echo "make test     lint, types and every test (builds and starts a local control plane)"
	@echo "make cluster  run the local control plane in the foreground"
	@echo "make crds     regenerate crds/ from the pydantic models"
	@echo "make chart    refresh the chart's copy of the dashboard and its README (generated from values.yaml)"
	@echo "make bench    run the benchmarks in bench/"
	@echo "make mutants  mutation-test the safety-carrying modules against their fast tests (minutes; not in make test)"
	@echo "make images   build the operator, agent and pause images offline, as OCI archives (docs/images.md)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

controlplane: $(STAMP)
	$(BIN)/python -m hack.controlplane build

# The blocker tests query a real Prometheus server: Debian's package, installed once if missing.
prometheus:
	@command -v prometheus >/dev/null || { \
		echo "installing Debian's prometheus package (needed by tests/integration/test_blockers.py)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) \
			apt-get install -y -qq --no-install-recommends prometheus; }

# The container images, built offline from images/*.Dockerfile on a Debian base made from Debian's archive
# (docs/images.md), with Debian's buildah and mmdebstrap; tests/hack/test_images.py runs them under Debian's
# containerd and runc. Each is installed once if missing.
images-deps:
	@missing=; for tool in buildah mmdebstrap containerd runc; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	[ -z "$$missing" ] || { \
		echo "installing Debian's$$missing (needed by make images and tests/hack/test_images.py)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) \
			apt-get install -y -qq --no-install-recommends $$missing; }

images: $(STAMP) images-deps
	$(BIN)/python -m hack.images build

# Real nodes (hack/realnodes, tests/integration/test_real_nodes.py, make demo DEMO_ARGS=--real-nodes): Debian's
# containerd and runc (above), its CNI plugins, iptables (for kube-proxy) and iproute2. Each is installed once if missing.
realnodes-deps: images-deps
	@missing=; [ -x /usr/lib/cni/bridge ] || missing="$$missing containernetworking-plugins"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	[ -z "$$missing" ] || { \
		echo "installing Debian's$$missing (needed by the real nodes)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) \
			apt-get install -y -qq --no-install-recommends $$missing; }

# The GitOps test (tests/integration/test_gitops.py): Argo CD and kustomize built from their Go modules (Argo CD
# fetches Go 1.27 for its own build; ~6 min the first time on 2 cores), and Debian's redis-server, Argo CD's cache.
argocd-deps:
	@command -v redis-server >/dev/null || { \
		echo "installing Debian's redis-server (needed by Argo CD in tests/integration/test_gitops.py)"; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) \
			apt-get install -y -qq --no-install-recommends redis-server; }

argocd: controlplane argocd-deps
	$(BIN)/python -m hack.argocd build

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy

# Unit tests need no control plane, but tests/manifests renders with the kubectl and helm built here, lints the
# workflows with the actionlint built beside them, and checks the chart's alerts with promtool (Debian's prometheus).
unit: controlplane prometheus images
	$(BIN)/pytest tests --ignore=tests/integration

integration: controlplane prometheus images realnodes-deps argocd
	$(BIN)/pytest tests/integration

test: lint types controlplane prometheus images realnodes-deps argocd
	$(BIN)/pytest tests

cluster: controlplane
	$(BIN)/python -m hack.controlplane up

demo: controlplane $(if $(findstring --real-nodes,$(DEMO_ARGS)),images realnodes-deps)
	$(BIN)/python -m hack.demo $(DEMO_ARGS)

# Benchmarks measure and report (tens of minutes; bench_rollout and bench_scale have --quick); a missed target fails
# none of them, so the scripts that exit 1 on one are allowed to (-). Results: bench/results.json, bench/RESULTS.md.
bench: controlplane
	-$(BIN)/python bench/bench_decide.py
	$(BIN)/python -m bench.bench_rollout
	$(BIN)/python -m bench.bench_scale
	-$(BIN)/python -m bench.bench_agent
	$(BIN)/python -m bench.report

# One-line slips in the modules that carry out the safety rules, each run against the fast tests that cover its
# module (bench/mutants.py); a mutant that survives and is not written down as equivalent (bench/mutants_equivalent.txt)
# fails the run. The score goes to bench/results.json. MUTANTS_ARGS="--jobs 1" on a busy machine.
MUTANTS_ARGS ?= --jobs 2
mutants: $(STAMP)
	$(BIN)/python -m bench.mutants --record $(MUTANTS_ARGS)
	$(BIN)/python -m bench.report

# The chart (and through it the kustomize base) carries a copy of the CRDs; a test keeps them identical.
crds: $(STAMP)
	$(BIN)/python -m reboot_operator.api.crdgen crds/
	cp crds/*.yaml manifests/chart/files/crds/

# The chart carries a copy of docs/grafana-dashboard.json, and its README is generated from values.yaml's comments;
# tests/manifests/test_monitoring.py and test_chart_docs.py fail while either is stale.
chart: $(STAMP)
	cp docs/grafana-dashboard.json manifests/chart/files/
	$(BIN)/python -m hack.chartdocs

clean:
	rm -rf .cache $(VENV)
