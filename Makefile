# Everything the book needs is installed from here: nothing by hand.
# `make book` and `make test` are the README's two commands.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SETUP  := $(VENV)/.installed
ASSETS := node_modules/.installed
NPM_STATIC := node_modules/.book-static/npm
DATA   := $(BIN)/python -m recsys_lab.datasets
export RECSYS_LAB_DATA ?= $(HOME)/.cache/recsys_lab
# TensorFlow's C++ log is noise in a book and in test logs: its start-up chatter, and an
# ERROR-level oneDNN note at the first fit of some models, which level 2 let through into
# the pages of chapters 6, 7 and 9c on a cold `make book`. recsys_lab.models uses 3 too.
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0

.PHONY: all setup lock wheelhouse data assets cache-check book lab test unit notebooks nbval lint \
	student grade bench bench-scale clean dist

all: book

# The venv is installed from requirements.lock, every transitive package pinned (pip itself
# first), so that a fresh install next year computes the same numbers. requirements.txt is
# only checked: offline, pip finds each of its pins already installed, or the two files
# disagree and the lock must be remade. A changed lock reinstalls (the stamp depends on it).
$(SETUP): requirements.lock requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip -c requirements.lock
	@# pip compiles the packages' sources one file at a time (about 35 s on two cores);
	@# compileall on every core does the same in half the time.
	$(BIN)/pip install --quiet --no-compile -r requirements.lock
	$(BIN)/python -m compileall -qq -j 0 \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	$(BIN)/pip install --quiet --no-index -r requirements.txt || \
	  { echo "requirements.txt pins what requirements.lock does not: run 'make lock'" >&2; exit 1; }
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@# TensorFlow writes its start-up log to file descriptor 2 before its own setting,
	@# TF_CPP_MIN_LOG_LEVEL, can quiet it. The kernel leaves such C-level lines in the terminal
	@# that runs Jupyter instead of copying them into the pages; Python's warnings and errors
	@# still show in the notebook.
	mkdir -p $(VENV)/etc/ipython
	echo "c.IPKernelApp.capture_fd_output = False" > $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $@

setup: $(SETUP)

# Remakes requirements.lock after requirements.txt changed: a clean resolution of
# requirements.txt in a fresh temporary venv (removed afterwards), then `pip freeze --all`,
# which also pins pip, setuptools and wheel (tensorflow and astunparse need the last two).
# Needs the package registry; commit the new lock together with requirements.txt.
lock:
	@set -e; tmp=$$(mktemp -d); \
	trap 'rm -rf "$$tmp" requirements.lock.new' EXIT; trap 'exit 1' INT TERM; \
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "make lock needs Python 3.11 (PYTHON=$(PYTHON))" >&2; exit 1; }; \
	$(PYTHON) -m venv $$tmp/venv; \
	$$tmp/venv/bin/pip install --quiet --upgrade pip; \
	$$tmp/venv/bin/pip install --quiet -r requirements.txt; \
	$$tmp/venv/bin/pip check; \
	python=$$($$tmp/venv/bin/python -c 'import platform as p; print(p.python_version(), p.system(), p.machine())'); \
	{ echo "# Every package of the book's environment, pinned: 'make setup' installs exactly these."; \
	  echo "# Made by 'make lock': requirements.txt installed into a fresh venv (Python $$python),"; \
	  echo "# then 'pip freeze --all --exclude-editable'. Do not edit by hand: change requirements.txt"; \
	  echo "# and run 'make lock'."; \
	  $$tmp/venv/bin/pip freeze --all --exclude-editable; } > requirements.lock.new; \
	mv requirements.lock.new requirements.lock; \
	echo "requirements.lock: $$(grep -c '==' requirements.lock) packages"

# npm packages, then the files of them the offline site loads: _config.yml's
# html_static_path serves $(NPM_STATIC) as _build/html/_static/npm/.
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(NPM_STATIC)/requirejs $(NPM_STATIC)/html-manager $(NPM_STATIC)/mermaid/chunks
	cp -R node_modules/mathjax/es5 $(NPM_STATIC)/mathjax
	cp node_modules/requirejs/require.js $(NPM_STATIC)/requirejs/
	cp node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js \
	   node_modules/@jupyter-widgets/html-manager/dist/*.woff* \
	   node_modules/@jupyter-widgets/html-manager/dist/*.ttf \
	   node_modules/@jupyter-widgets/html-manager/dist/*.eot \
	   node_modules/@jupyter-widgets/html-manager/dist/*.svg $(NPM_STATIC)/html-manager/
	cp node_modules/mermaid/dist/mermaid.esm.min.mjs node_modules/mermaid/dist/mermaid.min.js $(NPM_STATIC)/mermaid/
	cp -R node_modules/mermaid/dist/chunks/mermaid.esm.min $(NPM_STATIC)/mermaid/chunks/
	mkdir -p $(NPM_STATIC)/vega $(NPM_STATIC)/vega-lite $(NPM_STATIC)/vega-embed
	cp node_modules/vega/build/vega.min.js $(NPM_STATIC)/vega/
	cp node_modules/vega-lite/build/vega-lite.min.js $(NPM_STATIC)/vega-lite/
	cp node_modules/vega-embed/build/vega-embed.min.js $(NPM_STATIC)/vega-embed/
	find $(NPM_STATIC) -name '*.map' -delete
	touch $@

assets: $(ASSETS)

data: $(SETUP)
	$(DATA) fetch

# Jupyter Book's execution cache (and nbval's runs that `make test` adds to it) matches a
# notebook by its code cells alone: after a change to recsys_lab or to a locked package it
# would keep serving outputs whose asserts never ran against the new code. So `book`,
# `notebooks` and `test` first hash what the notebooks import (every recsys_lab/**/*.py,
# pyproject.toml, requirements.lock) and compare it with the hash stored next to the cache.
# On a difference, or with no stored hash, the cache is emptied, and so are Sphinx's doctrees,
# without which an unchanged notebook would not even be re-read. With no change nothing is
# touched and the warm rebuild stays fast. File contents count, not times: a checkout or a
# `touch` invalidates nothing. tests/test_install.py points the variables at temporary folders.
EXEC_CACHE        ?= _build/.jupyter_cache
DOCTREES          ?= _build/.doctrees
# Fitted leaderboard rows that a later page reuses (recsys_lab/model_store.py), for the
# commands that execute the chapters; emptied with the execution cache, and by `make test`
# before nbval, so that every test run fits every model at least once.
MODEL_STORE       ?= _build/.model_store
WITH_STORE        := RECSYS_LAB_MODEL_STORE=$(abspath $(MODEL_STORE))
FINGERPRINT_SRC   ?= recsys_lab
FINGERPRINT_FILES ?= pyproject.toml requirements.lock

cache-check:
	@set -e; for f in $(FINGERPRINT_SRC) $(FINGERPRINT_FILES); do \
	  [ -e "$$f" ] || { echo "cache-check: $$f is missing" >&2; exit 1; }; done; \
	new=$$( { find $(FINGERPRINT_SRC) -name '*.py' -type f -exec sha256sum {} +; \
	          sha256sum $(FINGERPRINT_FILES); } | LC_ALL=C sort | sha256sum | cut -c1-64); \
	if [ "$$new" != "$$(cat $(EXEC_CACHE).fingerprint 2>/dev/null)" ]; then \
	  [ ! -e $(EXEC_CACHE) ] || echo "$(FINGERPRINT_SRC) or the lock changed since" \
	    "$(EXEC_CACHE) was filled (or it has no fingerprint): emptying it"; \
	  rm -rf $(EXEC_CACHE) $(DOCTREES) $(MODEL_STORE); mkdir -p $(dir $(EXEC_CACHE)); \
	  echo "$$new" > $(EXEC_CACHE).fingerprint; \
	fi

book: setup assets data cache-check
	$(WITH_STORE) $(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "The book is in _build/html/index.html"

# JupyterLab on book/ at http://127.0.0.1:$(LAB_PORT)/ (tools/lab.py prints the URL; Ctrl-C
# stops it and its kernels). A taken port or a root user stops it with a message saying what
# to do; LAB_ARGS go to JupyterLab, e.g. LAB_ARGS="--allow-root --no-browser" in a container.
LAB_PORT ?= 8888
lab: setup data
	$(BIN)/python tools/lab.py --port $(LAB_PORT) $(LAB_ARGS) book

# Every pinned package as a file, for lab machines without the registries (book/teaching.md):
# there, `PIP_NO_INDEX=1 PIP_FIND_LINKS=wheelhouse make setup` installs from these alone.
wheelhouse: setup
	$(BIN)/pip download --quiet --no-deps -r requirements.lock -d wheelhouse
	@echo "wheelhouse/: $$(ls wheelhouse | wc -l) files"

lint: setup
	$(BIN)/ruff check recsys_lab tests benchmarks tools
	@# The chapters: pyflakes only (unused imports, undefined names). A notebook imports where
	@# the reader first needs a name, so the import-order and line-layout rules stay off.
	$(BIN)/ruff check --select F book

# The unit tests run on every core (pytest-xdist), each test file on one worker, so that a
# file's module fixtures (a built wheel, a fitted model) are made once: on two cores
# 4-5 minutes instead of 7. Files go out in collection order, which tests/conftest.py starts
# with the slowest (not xdist's default, most tests first), so that no long file is left to
# run alone at the end. The notebooks stay serial: each has its time limit. (The browser
# tests in tests/site do not gain: Chromium already uses both cores; two took 165 s, one 119 s.)
UNIT := $(BIN)/pytest tests --ignore=tests/site -n auto --dist loadfile --no-loadscope-reorder

unit: setup data
	$(UNIT)

# Every chapter under nbval; each notebook that passes goes into the book's execution cache
# (tests/nbval_cache.py), so the build that follows does not execute it a second time.
NBVAL := $(BIN)/python -m pytest -p tests.nbval_cache --nbval-lax --nbval-current-env \
	--nbval-cell-timeout=300

# nbval stops each chapter's kernel with a kill, so the kernel's exit handlers never run and
# the modules TensorFlow's AutoGraph wrote to $TMPDIR stay there: about 120 files in /tmp
# per run. `nbval` (called by `notebooks` and `test`, with no set-up of its own) gives the
# kernels a temporary folder of their own and removes it when nbval ends, passed or failed.
NBVAL_TMP ?= _build/.nbval_tmp
NOTEBOOKS := book/

nbval:
	rm -rf $(NBVAL_TMP) && mkdir -p $(NBVAL_TMP)
	TMPDIR=$(abspath $(NBVAL_TMP)) $(WITH_STORE) $(NBVAL) $(NOTEBOOKS); \
	  status=$$?; rm -rf $(NBVAL_TMP); exit $$status

notebooks: setup data cache-check
	$(MAKE) --no-print-directory nbval

test: setup assets data lint browser cache-check
	$(UNIT)
	rm -rf $(MODEL_STORE)
	$(MAKE) --no-print-directory nbval
	$(WITH_STORE) $(BIN)/jupyter-book build . --warningiserror --keep-going
	$(BIN)/pytest tests/site

# Headless Chromium (Debian package) for the browser tests in tests/site and for screenshots.
.PHONY: browser screenshots
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

# Full-page PNGs of every page in _toc.yml, for a person to look at: _build/screenshots/.
screenshots: book browser
	$(BIN)/python tests/site/screenshots.py

student: setup
	$(BIN)/python -m recsys_lab.classroom book student

# What a reader or a class gets without the repository: a wheel of recsys_lab (named with
# pyproject.toml's version) and a zip of the student edition, recsys-book-student-VERSION.zip,
# whose one top folder has the same name. The wheel is built from a fresh copy of
# pyproject.toml and recsys_lab/ alone, so that no stale build/ folder, test or data file can
# slip into it; tests/test_dist.py installs it into a new venv and runs chapter 1 there.
DIST ?= dist

dist: student
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; trap 'exit 1' INT TERM; \
	version=$$($(BIN)/python -c 'import tomllib; \
	  print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])'); \
	edition=recsys-book-student-$$version; \
	mkdir -p $(DIST) $$tmp/src; \
	rm -f $(DIST)/recsys_lab-*.whl $(DIST)/recsys-book-student-*.zip; \
	cp -R pyproject.toml recsys_lab $$tmp/src/; \
	find $$tmp/src -name __pycache__ -prune -exec rm -rf {} +; \
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(DIST) $$tmp/src; \
	cp -R student $$tmp/$$edition; \
	find $$tmp/$$edition -name __pycache__ -prune -exec rm -rf {} +; \
	python=$$(cd $(BIN) && pwd)/python; \
	(cd $$tmp && $$python -m zipfile -c $$edition.zip $$edition); \
	mv $$tmp/$$edition.zip $(DIST)/; \
	echo "$(DIST)/: $$(cd $(DIST) && ls recsys_lab-$$version-*.whl $$edition.zip | tr '\n' ' ')"

# Speed and accuracy targets (benchmarks/README.md): every script, each reporting what it
# measured; the target fails when any script misses its goal. Not part of `make test`.
# scale.py is left to `bench-scale`: its full range runs far longer than the others together.
bench: setup data
	@status=0; for script in benchmarks/*.py; do \
	  [ "$$script" != benchmarks/scale.py ] || continue; \
	  echo "== $$script"; $(BIN)/python $$script || status=1; \
	done; exit $$status

# Cost curves (issue 23): fit time and peak memory of EASE, ALS, Keras MF and SASRec on
# synthetic MovieLens-shaped data of 10^5 to 10^7 interactions, log-log slopes beside the
# complexity the chapters derive; writes _build/bench/scale.md and .csv files. The full
# range is long; SCALE_ARGS=--quick runs small sizes in a few minutes.
bench-scale: setup
	$(BIN)/python benchmarks/scale.py $(SCALE_ARGS)

# Grades the notebooks a class handed back, one folder or one .ipynb file per student:
# make grade SUBMISSIONS=folder [GRADES=grades.csv] [CHAPTER=01]. Each notebook runs in a
# temporary copy, in a kernel of its own, with time limits; the submissions are never
# modified. Writes GRADES, GRADES' -summary.csv and a -feedback/ folder with a file per
# student (book/teaching.md; recsys_lab/grading.py). It is no sandbox for hostile code.
GRADES ?= grades.csv
grade: setup data
	@[ -n "$(SUBMISSIONS)" ] || { echo "usage: make grade SUBMISSIONS=folder" \
	  "[GRADES=grades.csv] [CHAPTER=01]" >&2; exit 2; }
	$(BIN)/python -m recsys_lab.classroom grade "$(SUBMISSIONS)" --book book \
	  --out "$(GRADES)" $(if $(CHAPTER),--chapter "$(CHAPTER)")

clean:
	rm -rf _build student
