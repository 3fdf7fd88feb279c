# Two commands do everything on a fresh Debian machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean

setup:
	bash tools/setup.sh

demo: setup
	$(VENV)/bin/edgemb demo

test: setup
	$(PY) -m pytest -q --durations=12 tests

clean:
	rm -rf build .pytest_cache
