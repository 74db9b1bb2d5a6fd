# One obvious way to do each thing. Everything runs from .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR_DIR := static/vendor
VENDOR_STAMP := $(VENDOR_DIR)/.built

.PHONY: install vendor run ingest test check lint format clean

install: $(STAMP) vendor

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The browser libraries the player and console import, as the app serves them under
# /static/vendor/: only the files it needs, copied out of node_modules into static/vendor/
# (git-ignored, never committed; package data, so an installed package carries them). The
# Dockerfile's vendor stage runs this same target.
vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed (apt-get install -y nodejs npm)"; exit 1; }
	npm ci --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf $(VENDOR_DIR) && mkdir -p $(VENDOR_DIR)
	cp node_modules/socket.io-client/dist/socket.io.esm.min.js $(VENDOR_DIR)/socket.io.esm.min.js
	cp node_modules/hls.js/dist/hls.min.mjs $(VENDOR_DIR)/hls.mjs
	@touch $(VENDOR_STAMP)

run: install
	$(BIN)/python -m server migrate
	$(BIN)/python -m server seed-demo
	exec $(BIN)/python -m server run

# The media server for OBS (nginx-rtmp, HLS under var/ingest/hls), next to `make run`.
ingest: install
	exec $(BIN)/python -m server ingest

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules $(VENDOR_DIR) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
