# The two commands of the README:  `make lab`  and  `make test`.
# Both create .venv when it is missing and install everything the course needs.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.course-installed
EXTRAS  ?= cpu,dev,book
PYTEST_ARGS ?=
# Test processes (pytest-xdist); each notebook stays on one process (--dist loadscope).
TEST_JOBS ?= 2

.PHONY: help setup lab test test-colab book grade notebooks release clean

help:
	@echo "make lab       open the course in JupyterLab (sets everything up first)"
	@echo "make test      run the whole test suite in quick mode (sets everything up first)"
	@echo "make book      build the course website into _site/ (from the saved notebooks)"
	@echo "make test-colab run the notebooks on a twin of Colab's runtime (tests/colab/)"
	@echo "make notebooks re-execute the notebooks and save their outputs (authors)"
	@echo "make grade     grade the example submissions of every assignment (instructors)"
	@echo "make release   regenerate assignments/ from solutions/ (instructors)"
	@echo "make clean     remove .venv and caches"

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[$(EXTRAS)]"
	@touch $(STAMP)

# Offline data: links the Fashion-MNIST mirror into the Keras cache (installs
# Debian's dataset-fashion-mnist when run as root); the tests also need Debian's
# Chromium. Missing pieces are reported, not fatal: the tests that need them say so.
setup: $(STAMP)
	@$(BIN)/course setup

lab: setup
	$(BIN)/course lab

test: $(STAMP)
	@$(BIN)/course setup --browser
	$(BIN)/course book
	COURSE_SITE=$(CURDIR)/_site COURSE_QUICK=1 COURSE_OFFLINE=1 $(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadscope $(PYTEST_ARGS)

# The course website, from the saved notebooks (nothing is executed): any static host
# can serve _site/ (README, "For maintainers"). tests/test_site.py checks it in Chromium.
book: $(STAMP)
	$(BIN)/course book

# The Colab twin (tests/colab/twin.py): Colab's published package list at its versions, on
# the snapshot's Python from pyenv; rebuilt only when the snapshot (or the twin) changed.
COLAB_PYTHON_VERSION ?= 3.13
COLAB_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(COLAB_PYTHON_VERSION)*/bin/python$(COLAB_PYTHON_VERSION)) $(shell command -v python$(COLAB_PYTHON_VERSION)))
COLAB_VENV   ?= .venv-colab
COLAB_STAMP  := $(COLAB_VENV)/.colab-twin-built
$(COLAB_STAMP): tests/colab/pip-freeze.gpu.txt tests/colab/twin.py pyproject.toml | $(STAMP)
	@test -n "$(COLAB_PYTHON)" || { echo "the Colab twin needs Python $(COLAB_PYTHON_VERSION) (pyenv install $(COLAB_PYTHON_VERSION))"; exit 1; }
	$(BIN)/python tests/colab/twin.py build --venv $(COLAB_VENV) --python $(COLAB_PYTHON)
	@touch $(COLAB_STAMP)

test-colab: $(STAMP) $(COLAB_STAMP)
	$(BIN)/python tests/colab/twin.py test --venv $(COLAB_VENV) --jobs $(TEST_JOBS)

# For authors: execute every notebook with the full budget and save its outputs.
notebooks: setup
	$(BIN)/course notebooks run

# Instructors: autograde the example classes shipped in solutions/examples/ and print
# their gradebooks (grades/<assignment>/grades.csv, feedback in grades/<assignment>/feedback).
# Your own class: .venv/bin/course grade ASSIGNMENT SUBMISSIONS --jobs N (see docs/grading.md).
GRADE_JOBS ?= 2
grade: $(STAMP)
	$(BIN)/course grade a1_arithmetic --jobs $(GRADE_JOBS)
	$(BIN)/course grade a2_numpy_layers --jobs $(GRADE_JOBS)

# Instructors: regenerate the student releases after editing solutions/ (CI runs --check).
release: $(STAMP)
	$(BIN)/course release

clean:
	rm -rf $(VENV) $(COLAB_VENV) .pytest_cache .hypothesis *.egg-info _site build/site
