# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install from setup.cfg first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled when the package metadata changes; the install is editable, so code changes need no reinstall.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,ui,peers]'
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf runs/demo
	$(BIN)/nas search --space cnn --data synthetic:1500 --image-size 32 --population 8 --generations 4 --epochs 2 --max-params 300000 \
		--run-dir runs/demo --seed 0

# Debian's chromium for the browser test: installed with apt-get when missing and run as root, else that test is skipped
# (under CI=true it fails). The tests on the real HAM10000 data run where NAS_HAM10000 names it, else they are skipped.
chromium:
	.ci/chromium

# The linter and the type checker first (ruff.toml, mypy.ini), then the test suite in TEST_WORKERS processes
# (pytest-xdist): two halve its time on 2 cores; `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2
test: install chromium
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) build *.egg-info
