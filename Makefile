# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean bench-quality bench-throughput

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[broker,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/streamproc demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Detection-quality benchmark: prints the table, rewrites docs/detection.md and docs/img/*.png.
bench-quality: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) loadtest/quality.py $(BENCH_ARGS)

# Throughput, latency and memory benchmark (its own broker unless STREAMPROC_BOOTSTRAP is set).
bench-throughput: $(STAMP)
	$(PY) loadtest/throughput.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check streamproc tests loadtest
	$(VENV)/bin/mypy streamproc

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
