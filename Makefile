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

.PHONY: all setup data assets book lab test unit notebooks lint student clean

all: book

$(SETUP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(SETUP)

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
	find $(NPM_STATIC) -name '*.map' -delete
	touch $@

assets: $(ASSETS)

data: $(SETUP)
	$(DATA) fetch

book: setup assets data
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "The book is in _build/html/index.html"

lab: setup data
	$(BIN)/jupyter lab book/

lint: setup
	$(BIN)/ruff check recsys_lab tests

unit: setup data
	$(BIN)/pytest tests --ignore=tests/site

# Every chapter under nbval; each notebook that passes goes into the book's execution cache
# (tests/nbval_cache.py), so the build that follows does not execute it a second time.
NBVAL := $(BIN)/python -m pytest -p tests.nbval_cache --nbval-lax --nbval-current-env \
	--nbval-cell-timeout=300

notebooks: setup data
	$(NBVAL) book/

test: setup assets data lint browser
	$(BIN)/pytest tests --ignore=tests/site
	$(NBVAL) book/
	$(BIN)/jupyter-book build . --warningiserror --keep-going
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

clean:
	rm -rf _build student
