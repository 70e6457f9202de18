# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint dist bench bench-rpc bench-stream bench-monitoring bench-solana-rpc bench-pubsub clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py $(wildcard monmouth/core/*.c monmouth/rust_svm/*.c monmouth/plugins/rag/*.c) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/monmouth run $(ARGS)

# The sdist and wheel in ./dist (README: "Installing with pip"); setuptools and build come with
# the test extra, so this builds offline in .venv.
dist: $(VENV)/.installed
	$(BIN)/python -m build --no-isolation --outdir dist

# anvil (a local Ethereum node, npm package @foundry-rs/anvil) for the tests, into ./node_modules.
node_modules/.bin/anvil: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: $(VENV)/.installed node_modules/.bin/anvil
	$(BIN)/ruff check monmouth tests benches examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest $(ARGS)

bench: $(VENV)/.installed
	$(BIN)/python benches/bench_ingest.py $(ARGS)

# Per-block costs: an L1 block without inbox messages, and one with one transfer (docs/performance.md).
.PHONY: bench-blocks
bench-blocks: $(VENV)/.installed
	$(BIN)/python benches/bench_blocks.py $(ARGS)

bench-rpc: $(VENV)/.installed node_modules/.bin/anvil
	$(BIN)/python benches/bench_rpc.py $(ARGS)

bench-stream: $(VENV)/.installed
	$(BIN)/python benches/bench_stream.py $(ARGS)

bench-monitoring: $(VENV)/.installed
	$(BIN)/python benches/bench_monitoring.py $(ARGS)

bench-solana-rpc: $(VENV)/.installed
	$(BIN)/python benches/bench_solana_rpc.py $(ARGS)

bench-pubsub: $(VENV)/.installed
	$(BIN)/python benches/bench_pubsub.py $(ARGS)

# SIGKILL a replaying node at 50 seeded random moments and compare with an uninterrupted run
# (docs/operations.md, "Crash safety"); ARGS='--kills 200 --json' for more.
.PHONY: bench-crash
bench-crash: $(VENV)/.installed
	$(BIN)/python benches/bench_crash.py $(ARGS)

# The cache's eviction policies on a state of 10M accounts (built once into
# ~/.cache/monmouth/bench-cache, minutes), offline and in the node (docs/cache.md, "Measured");
# ARGS='--accounts 100000' for a quick run.
.PHONY: bench-cache
bench-cache: $(VENV)/.installed
	$(BIN)/python benches/bench_cache.py $(ARGS)

clean:
	rm -rf $(VENV) monmouth-data
