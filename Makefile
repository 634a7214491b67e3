# copier-ml-deploy: `make demo` renders the iris example and serves it; `make test` runs every test.
PY ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test test-quick system-deps lint example bench clean
$(STAMP): pyproject.toml template/requirements.txt.jinja
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade "pip>=25.1"
	grep -v '{%' template/requirements.txt.jinja > $(VENV)/runtime-pins.txt
	$(PYTHON) -m pip install --quiet --group dev -r $(VENV)/runtime-pins.txt
	touch $@

system-deps:
	bash scripts/system-deps.sh

demo: $(STAMP)  ## render the iris example into build/demo, train it, serve it
	rm -rf build/demo
	$(PYTHON) -m copier copy --trust --defaults --vcs-ref HEAD --quiet . build/demo
	$(MAKE) -C build/demo serve

test: $(STAMP) system-deps  ## every test, as CI runs them
	$(PYTHON) -m pytest -n 2 --dist loadgroup

test-quick: $(STAMP)  ## the fast tests only
	$(PYTHON) -m pytest -n 2 -m "not slow and not browser"

lint: $(STAMP)
	$(PYTHON) -m ruff check tests hooks bench
	$(PYTHON) -m ruff format --check tests hooks bench

bench: $(STAMP)  ## the benchmark: prints the table and writes bench/results.md
	$(PYTHON) bench/run.py

example: $(STAMP)  ## re-render examples/iris from the default answers
	$(PYTHON) tests/render_example.py

clean:
	rm -rf $(VENV) build test-output
