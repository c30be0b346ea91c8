# The two set-up commands (README):  make install   then   make test
# Everything else here is a convenience for authors and instructors.

PYTHON ?= python
# The torch build the course is tested with; override e.g. `make install TORCH=torch` for the newest.
TORCH ?= torch==2.13.0
TIMED := $(PYTHON) scripts/timed.py

# Offline data and Hub cache: used automatically when ../shared is beside the repository (CI here).
SHARED ?= $(abspath ../shared)
ifneq ($(wildcard $(SHARED)/data),)
export COURSE_DATA_DIR ?= $(SHARED)/data
export HF_HUB_CACHE ?= $(SHARED)/hf-hub
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
endif
export HF_HOME ?= $(CURDIR)/.cache/huggingface
# Tests execute notebooks on the smallest budget unless told otherwise.
export COURSE_BUDGET ?= ci

export PYDEVD_DISABLE_FILE_VALIDATION = 1

NOTEBOOKS := notebooks solutions
# nbval's run of the notebooks saves them executed here (conftest.py); the book build and the
# notebook timing report read them, so CI executes each notebook once.
EXECUTED := _build/executed

.PHONY: install test lint notebooks-clean pytest exercises exercises-check book book-offline \
        benchmark notebook-times benchmark-mlm doctor sync-colab

install:
	$(PYTHON) -m pip install $(TORCH)
	$(PYTHON) -m pip install -e ".[dev]"

test: lint notebooks-clean exercises-check pytest book-offline

lint:
	@$(TIMED) "lint (ruff check + format)" -- sh -c 'ruff check . && ruff format --check .'

notebooks-clean:
	@$(TIMED) "notebooks stored without outputs, Colab cells in sync" -- \
	  sh -c '$(PYTHON) scripts/check_notebooks.py && $(PYTHON) -m course_utils.colab check'

exercises-check:
	@$(TIMED) "generated exercises/solutions match their sources" -- \
	  $(PYTHON) -m course_utils.exercises check

pytest:
	@$(TIMED) "pytest: unit tests, exercises, nbval over $(NOTEBOOKS) (saved to $(EXECUTED))" -- \
	  env COURSE_EXECUTED_DIR=$(CURDIR)/$(EXECUTED) \
	  $(PYTHON) -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider

# Uses the notebooks that `make pytest` executed: run it first (`make test` does).
book-offline:
	@$(TIMED) "book content build (strict, nbval's executed notebooks, offline template)" -- \
	  $(PYTHON) scripts/build_book.py --offline --executed $(EXECUTED)
	@$(TIMED) "site output check (widgets, progress bars, paths, titles, widths)" -- \
	  $(PYTHON) scripts/check_site.py

book:
	$(PYTHON) scripts/build_book.py --html

exercises:
	$(PYTHON) -m course_utils.exercises generate

# Executes every notebook again (any budget, e.g. COURSE_BUDGET=cpu make benchmark).
benchmark:
	$(PYTHON) scripts/benchmark_notebooks.py

# The per-notebook times of the last `make pytest` (no second execution; CI prints these).
notebook-times:
	$(PYTHON) scripts/benchmark_notebooks.py --from-run $(EXECUTED)

benchmark-mlm:
	$(PYTHON) scripts/benchmark_mlm.py --budget cpu

doctor:
	$(PYTHON) -m course_utils.doctor

sync-colab:
	$(PYTHON) -m course_utils.colab sync
