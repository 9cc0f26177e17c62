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

.PHONY: help setup lab test book grade notebooks release clean

help:
	@echo "make lab       open the course in JupyterLab (sets everything up first)"
	@echo "make test      run the whole test suite in quick mode (sets everything up first)"
	@echo "make book      build the course website into _site/ (from the saved notebooks)"
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
	COURSE_QUICK=1 COURSE_OFFLINE=1 $(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadscope $(PYTEST_ARGS)

# The course website, from the saved notebooks (nothing is executed): any static host
# can serve _site/ (README, "For maintainers"). tests/test_site.py checks it in Chromium.
book: $(STAMP)
	$(BIN)/course book

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
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info _site build/site
