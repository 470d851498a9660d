# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv browser test lint typecheck demo quick bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Debian's chromium for the browser tests (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy src

typecheck: venv
	$(BIN)/mypy src

test: venv browser lint
	$(BIN)/python -m pytest -n 2 --dist loadscope

demo: venv
	$(BIN)/checkerscope reproduce --out out

quick: venv
	$(BIN)/checkerscope reproduce --quick --out out

bench: venv
	$(BIN)/python benchmarks/bench_overlap.py
	$(BIN)/python benchmarks/bench_score.py
	$(BIN)/python benchmarks/bench_layers.py
	$(BIN)/python benchmarks/audit_architectures.py

clean:
	rm -rf $(VENV) out test-output .mypy_cache
