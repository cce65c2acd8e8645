# mmssl_ext: the README's commands.
#   make demo   install if needed, make the synthetic scenes, pretrain, probe
#   make test   install if needed, run the test suite
#   make lint   install if needed, flake8 and isort as setup.cfg configures them
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= data/synthetic_scenes
# More options of tools/misc/demo.py, e.g. DEMO_ARGS=--with-densecl
DEMO_ARGS ?=
# Test processes (pytest-xdist): one per core; PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.PHONY: install demo test lint clean
LINT_PATHS := mmssl_ext tools tests configs setup.py

install:
	@bash tools/install.sh

demo: install
	@$(PY) tools/misc/demo.py --data-root $(DATA) $(DEMO_ARGS)

test: install
	@bash tools/install_test_deps.sh
	@$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: install
	@$(PY) -m flake8 $(LINT_PATHS)
	@$(PY) -m isort --check-only --diff --settings-path setup.cfg $(LINT_PATHS)
	@echo "[lint] flake8 and isort: clean"

clean:
	rm -rf work_dirs .pytest_cache
