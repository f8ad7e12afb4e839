# NFTGan: every target bootstraps its own virtual environment (.venv) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch (a wheel already on disk on the project's machines). Override for CUDA:
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" venv
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv test lint demo bench extension clean data models

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "NFTGan needs Python 3.11 (bpy 5.0.1 is built for it): set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[train,export,blender,dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

# ruff: the rule set is in pyproject.toml; the tree is kept ruff-formatted
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: $(STAMP)
	$(PY) -m tools.demo

bench: $(STAMP)
	$(PY) -m tools.bench

# Licensed training images for the default styles (Debian + npm packages) -> data/ (see training/recipes.py)
data: $(STAMP)
	$(VENV)/bin/nftgan data

# Train + export the default styles shipped in addon/models/ (resumes unfinished runs in runs/), then the
# evidence: docs/default_styles.png, held-out metrics in the model cards, golden test fixtures
models: $(STAMP)
	$(PY) -m nftgan.training.defaults
	$(PY) -m tools.evidence

extension: $(STAMP)
	$(PY) -m tools.build_extension

clean:
	rm -rf $(VENV) dist out build *.egg-info
