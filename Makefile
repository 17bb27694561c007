# rollboot developer entry points. `make test` and `make demo` are the README's contract.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv controlplane prometheus lint types unit integration test cluster crds bench demo clean

# Extra arguments for `make demo`, e.g. make demo DEMO_ARGS="--nodes 20 --max-concurrent 4 --reboot-seconds 2"
DEMO_ARGS ?=

help:
	@echo "make demo     a rolling reboot of simulated nodes on the local control plane (DEMO_ARGS=--help)"
	@echo "make test     lint, types and every test (builds and starts a local control plane)"
	@echo "make cluster  run the local control plane in the foreground"
	@echo "make crds     regenerate crds/ from the pydantic models"
	@echo "make bench    run the benchmarks in bench/"

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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

# Unit tests need no control plane, but tests/manifests renders with the kubectl and helm built here.
unit: controlplane
	$(BIN)/pytest tests --ignore=tests/integration

integration: controlplane prometheus
	$(BIN)/pytest tests/integration

test: lint types controlplane prometheus
	$(BIN)/pytest tests

cluster: controlplane
	$(BIN)/python -m hack.controlplane up

demo: controlplane
	$(BIN)/python -m hack.demo $(DEMO_ARGS)

# Benchmarks measure and report (tens of minutes; bench_rollout and bench_scale have --quick); a missed target fails
# none of them, so the scripts that exit 1 on one are allowed to (-). Results: bench/results.json, bench/RESULTS.md.
bench: controlplane
	-$(BIN)/python bench/bench_decide.py
	$(BIN)/python -m bench.bench_rollout
	$(BIN)/python -m bench.bench_scale
	-$(BIN)/python -m bench.bench_agent
	$(BIN)/python -m bench.report

# The chart (and through it the kustomize base) carries a copy of the CRDs; a test keeps them identical.
crds: $(STAMP)
	$(BIN)/python -m reboot_operator.api.crdgen crds/
	cp crds/*.yaml manifests/chart/files/crds/

clean:
	rm -rf .cache $(VENV)
