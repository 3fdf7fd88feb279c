# Two commands do everything on a fresh Debian machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-quick bench clean

setup:
	bash tools/setup.sh

demo: setup
	$(VENV)/bin/edgemb demo

test: setup
	$(PY) -m pytest -q --durations=30 tests

# everything but the tests marked slow (emulated boards, MetaSchedule, training): for edits
test-quick: setup
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf build .pytest_cache
