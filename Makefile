SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables
MAKEFLAGS += --no-builtin-rules

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
PROTOS := $(wildcard proto/koji/v1/*.proto)
# googleapis-common-protos ships google/api/*.proto and google/rpc/*.proto in
# site-packages; grpc_tools adds google/protobuf/*.proto by itself.
GOOGLEAPIS = $(shell $(PY) -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')

.PHONY: help install gen check-gen run test lint bench bench-pipeline eval clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv with the service and dev tools

gen: $(VENV)/.installed ## Regenerate gen/ (Python stubs, .pyi, Envoy descriptor set) from proto/
	$(PY) tools/gen.py --out gen

check-gen: $(VENV)/.installed ## Fail if gen/ differs from what proto/ generates
	$(PY) tools/gen.py --check gen

ARGS ?=
run: $(VENV)/.installed ## Start the gRPC server and Envoy with a demo project, study and key
	$(MAKE) --no-print-directory gen
	$(PY) -m koji_server.devrun $(ARGS)

test: $(VENV)/.installed ## Run the whole test suite (lint and generated-code checks included)
	$(MAKE) --no-print-directory check-gen lint
	$(PY) -m pytest -q

bench: $(VENV)/.installed ## Load benchmark: each RPC against the health-check ceiling (needs h2load)
	$(PY) -m bench.load

bench-pipeline: $(VENV)/.installed ## Completion -> analysis -> webhook latency; study report rebuild and reads
	$(PY) -m bench.analysis_latency
	$(PY) -m bench.study_report

eval: $(VENV)/.installed ## Insight classifier on the held-out sentences (eval/): accuracy, per class, confusion
	$(PY) -m tools.eval_insights

lint: $(VENV)/.installed ## ruff and buf lint
	$(VENV)/bin/ruff check server tests tools bench
	$(VENV)/bin/ruff format --check server tests tools bench
	mkdir -p build
	$(PY) tools/gen.py --descriptor-for-lint build/koji-lint.binpb
	$(VENV)/bin/buf lint build/koji-lint.binpb --path koji --config buf.yaml

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
