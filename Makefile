# NFTGan: every target bootstraps the environments it needs on a fresh machine.
#   .venv            Python 3.11: training, export and the add-on's core, with torch (CPU), numpy 2,
#                    onnx, onnxruntime and the dev tools. Runs every test that needs no Blender and builds
#                    the tiny test models (tests/conftest.py) that the Blender tests use.
#   .venv-bpy-4.2.13 Python 3.11 + bpy 4.2.13: the oldest Blender the extension allows (the manifest's
#                    blender_version_min, 4.2 LTS)
#   .venv-bpy-5.0.1  Python 3.11 + bpy 5.0.1 (Blender 4.2 LTS - 5.0 embed Python 3.11)
#   .venv-bpy-5.3.0  Python 3.13 + bpy 5.3.0 (Blender 5.1 - 5.3 embed Python 3.13); also `make extension`
#                    and the Blender that `make demo` and `make bench` drive
#   .venv-bpy-X.Y.Z  any other bpy from PyPI, the same way (Python 3.11 for bpy 4.x and 5.0, else 3.13):
#                    `make test-blender BPY_VERSIONS="4.2.23 4.5.15"` runs the Blender tests in those
# The Blender venvs hold no torch and no onnxruntime: there the add-on runs on the onnxruntime wheel its
# zip bundles, installed by Blender's own extension installer. Their tests are the files named
# tests/*/test_*blender*.py.
SHELL := /bin/bash
PYTHON ?= python3.11
# The first python3.13 that runs (a pyenv shim may exist without being enabled)
PYTHON313 ?= $(shell for p in python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13); do \
	$$p -c 'import sys; print(sys.executable)' 2>/dev/null && break; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch (a wheel already on disk on the project's machines). Override for CUDA:
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" venv
TORCH_SPEC ?= torch==2.13.0
PIP := pip install --quiet --disable-pip-version-check
BPY_311 := 5.0.1
BPY_313 := 5.3.0
BVENV_311 := .venv-bpy-$(BPY_311)
BVENV_313 := .venv-bpy-$(BPY_313)
# The oldest Blender the extension allows (blender_manifest.toml), tested as the bpy of that version
BPY_MIN := $(shell sed -n 's/^blender_version_min *= *"\(.*\)"/\1/p' blender_manifest.toml)
# The bpy versions `make test` and `make test-blender` run the Blender tests in, each in .venv-bpy-<version>
BPY_VERSIONS ?= $(BPY_MIN) $(BPY_311) $(BPY_313)
BVENVS = $(addprefix .venv-bpy-,$(BPY_VERSIONS))
BLENDER_TESTS := $(sort $(wildcard tests/*/test_*blender*.py))

.PHONY: venv test test-blender lint demo bench extension clean data models

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "NFTGan's training venv needs Python 3.11: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/$(PIP) $(TORCH_SPEC)
	$(VENV)/bin/$(PIP) -e '.[train,export,dev]' 'numpy>=2'
	$(VENV)/bin/pip uninstall --quiet --yes bpy 2>/dev/null  # bpy lives in the Blender venvs now
	@touch $(STAMP)

# A Blender test venv for any bpy on PyPI, .venv-bpy-<version>: bpy (which brings Blender's numpy and
# requests), pytest and pillow (the test fixtures' PNGs), and this repository without its dependencies
# (the tests import nftgan.core helpers). The Python is Blender's: 3.11 for bpy 4.x and 5.0, else 3.13.
# The numpy is Blender's too: Blender 4.2 - 5.0 ship numpy 1.26, and bpy 4.2.x's metadata asks for any
# numpy (pip would take numpy 2, under which the bundled onnxruntime 1.18.1 cannot load), hence numpy<2.
is_311 = $(filter 4.% 5.0.%,$(1))
bpy_pyver = $(if $(call is_311,$(1)),3.11,3.13)
bpy_python = $(if $(call is_311,$(1)),$(shell command -v $(PYTHON)),$(PYTHON313))
bpy_pyvar = $(if $(call is_311,$(1)),PYTHON,PYTHON313)
# Missing, or another version (PYTHON313 set to a python3.11 ended on pip's 'No matching distribution found
# for bpy==5.3.0'): said with the version needed and the one found
need_python = @py="$(call bpy_python,$(1))"; \
	test -n "$$py" || { echo "bpy $(1) needs Python $(call bpy_pyver,$(1)): install it (e.g. pyenv install $(call bpy_pyver,$(1))) or set $(call bpy_pyvar,$(1))=/path/to/python$(call bpy_pyver,$(1))"; exit 1; }; \
	found=$$("$$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null); \
	test "$${found%.*}" = "$(call bpy_pyver,$(1))" || { echo "bpy $(1) needs Python $(call bpy_pyver,$(1)), and $(call bpy_pyvar,$(1))=$$py is $${found:+Python }$${found:-not a Python that runs}: set $(call bpy_pyvar,$(1))=/path/to/python$(call bpy_pyver,$(1)) (e.g. pyenv install $(call bpy_pyver,$(1)))"; exit 1; }
.venv-bpy-%/.installed: pyproject.toml Makefile
	$(call need_python,$*)
	$(call bpy_python,$*) -m venv .venv-bpy-$*
	.venv-bpy-$*/bin/$(PIP) bpy==$* "pytest>=8" "pillow>=10" $(if $(call is_311,$*),"numpy<2")
	.venv-bpy-$*/bin/$(PIP) --no-deps -e .
	@touch $@

# The Python a bpy needs, checked before a target builds any venv (a missing Python 3.13 was said only after
# .venv's few minutes): `demo: need-python-5.3.0 ...`
need-python-%:
	$(call need_python,$*)

# Everything: the tests without Blender in .venv, then the Blender tests in each bpy of BPY_VERSIONS (the
# oldest Blender allowed, and the newest bpy of each Blender Python)
test: $(addprefix need-python-,$(BPY_VERSIONS)) $(STAMP) $(addsuffix /.installed,$(BVENVS))
	$(PY) -m pytest -q $(addprefix --ignore=,$(BLENDER_TESTS))
	@$(MAKE) --no-print-directory test-blender

# The Blender tests alone, on the test models .venv builds (cached in .cache/test-models/), in each bpy of
# BPY_VERSIONS (e.g. `make test-blender BPY_VERSIONS=4.2.23`)
test-blender: $(addprefix need-python-,$(BPY_VERSIONS)) $(STAMP) $(addsuffix /.installed,$(BVENVS))
	@models=$$($(PY) -m tests.conftest) || exit 1; rc=0; \
	for v in $(BVENVS); do \
		echo "== Blender tests in $$v ($$($$v/bin/python --version))"; \
		NFTGAN_TEST_MODELS=$$models $$v/bin/python -m pytest -q $(BLENDER_TESTS) || rc=1; \
	done; exit $$rc

# ruff: the rule set is in pyproject.toml; the tree is kept ruff-formatted
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Driven from .venv, in the newest Blender (its stages run in .venv-bpy-5.3.0)
demo: need-python-$(BPY_313) $(STAMP) $(BVENV_313)/.installed
	NFTGAN_BLENDER_PYTHON="$(abspath $(BVENV_313))/bin/python" $(PY) -m tools.demo

bench: need-python-$(BPY_313) $(STAMP) $(BVENV_313)/.installed
	NFTGAN_BLENDER_PYTHON="$(abspath $(BVENV_313))/bin/python" $(PY) -m tools.bench

# Licensed training images for the default styles (Debian + npm packages) -> data/ (see training/recipes.py)
data: $(STAMP)
	$(VENV)/bin/nftgan data

# Train + export the default styles shipped in addon/models/ (resumes unfinished runs in runs/), the exemplar
# index a sketch without dabs takes its colours from (addon/models/exemplars.npz), then the evidence:
# docs/default_styles.png, held-out metrics in the model cards, golden test fixtures
models: $(STAMP)
	$(PY) -m nftgan.training.defaults
	$(PY) -m tools.exemplar_index
	$(PY) -m tools.evidence

extension: $(BVENV_313)/.installed
	$(BVENV_313)/bin/python -m tools.build_extension

clean:
	rm -rf $(VENV) .venv-bpy-*/ dist out build *.egg-info
