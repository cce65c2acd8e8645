# mmssl_ext: the README's commands.
#   make demo   install if needed, make the synthetic scenes, pretrain, probe
#   make test   install if needed, run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= data/synthetic_scenes
# Test processes (pytest-xdist): one per core; PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.PHONY: install demo test clean

install:
	@bash tools/install.sh

demo: install
	@$(PY) tools/misc/demo.py --data-root $(DATA)

test: install
	@bash tools/install_test_deps.sh
	@$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
