# copier-ml-deploy: `make demo` renders the iris example and serves it; `make test` runs every test.
PY ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# `make demo` has its own small environment: copier (pyproject's demo group), then the
# rendered project's requirements.txt; uv makes it when installed (faster), else venv + pip.
DEMO_VENV := .venv-demo
DEMO_PYTHON := $(CURDIR)/$(DEMO_VENV)/bin/python
DEMO_STAMP := $(DEMO_VENV)/.installed
DEMO_PACKAGE := iris_classifier
UV := $(shell command -v uv 2>/dev/null)
ifdef UV
DEMO_INSTALL := $(UV) pip install --quiet --python $(DEMO_PYTHON)
else
# Not compiling every module at install saves about half of pip's time; imports compile.
DEMO_INSTALL := $(DEMO_PYTHON) -m pip install --quiet --no-compile --disable-pip-version-check
endif

.PHONY: demo test test-quick system-deps lint example bench clean
$(STAMP): pyproject.toml template/requirements.txt.jinja
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade "pip>=25.1"
	grep -v '{%' template/requirements.txt.jinja > $(VENV)/runtime-pins.txt
	$(PYTHON) -m pip install --quiet --group dev -r $(VENV)/runtime-pins.txt
	touch $@

$(DEMO_STAMP): pyproject.toml
ifdef UV
	$(UV) venv --quiet --seed --allow-existing --python $(PY) $(DEMO_VENV)
else
	$(PY) -m venv $(DEMO_VENV)
	$(DEMO_INSTALL) --upgrade "pip>=25.1"
endif
	$(DEMO_INSTALL) --group demo
	touch $@

system-deps:
	bash scripts/system-deps.sh

demo: $(DEMO_STAMP)  ## render the iris example into build/demo, train it, serve it
	rm -rf build/demo
	$(DEMO_PYTHON) -m copier copy --trust --defaults --vcs-ref HEAD --quiet \
		--data bootstrap=false . build/demo
	$(DEMO_INSTALL) -r build/demo/requirements.txt
	cd build/demo && PYTHONPATH=src $(DEMO_PYTHON) -m $(DEMO_PACKAGE).train
	cd build/demo && PYTHONPATH=src exec $(DEMO_PYTHON) -m $(DEMO_PACKAGE).serve

test: $(STAMP) system-deps  ## every test, as CI runs them
	$(PYTHON) -m pytest -n 2 --dist loadgroup --durations=40

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
	rm -rf $(VENV) $(DEMO_VENV) build test-output
