# The two commands of the README. Each sets up .venv/ itself when needed.
PROFILE ?= cpu
DEVICE ?= auto
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: book test lint bench clean

book: $(STAMP)   ## execute the notebooks (PROFILE=smoke|cpu|gpu) and build the book into _build/html
	tools/system_packages.sh
	$(VENV)/bin/python -m attnmem_core.runner --profile $(PROFILE) --device $(DEVICE)
	$(VENV)/bin/python tools/mathjax.py
	$(VENV)/bin/jupyter-book build . --warningiserror --quiet
	@echo "book: _build/html/index.html"

test: $(STAMP)   ## the test suite, including a smoke run of every notebook and a book build
	tools/system_packages.sh
	$(VENV)/bin/python tools/mathjax.py
	$(VENV)/bin/python -m pytest

lint: $(STAMP)   ## ruff: lint and format check of the library, tests, benchmarks and notebooks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)  ## speed benchmarks, printed as ratios
	$(VENV)/bin/python -m benchmarks.fast_weights
	$(VENV)/bin/python -m benchmarks.han
	$(VENV)/bin/python -m benchmarks.rnnsearch
	$(VENV)/bin/python -m benchmarks.transformer
	$(VENV)/bin/python -m benchmarks.attention
	$(VENV)/bin/python -m benchmarks.convs2s
	$(VENV)/bin/python -m benchmarks.show_attend_tell

$(STAMP): pyproject.toml tools/venv.sh
	tools/venv.sh
	touch $@

clean:
	rm -rf _build book/executed results
