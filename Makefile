# Each target is self-sufficient on a fresh machine: it creates .venv if missing and installs the project.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.physstd-installed
# The tests also run the converted exports (LiteRT, ONNX): the extras they need, installed next to the base.
TEST_STAMP := $(VENV)/.physstd-test-installed

.PHONY: test test-all demo install clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,wmca]'
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,wmca,litert,onnx]'
	touch $(TEST_STAMP)

# Test processes (pytest-xdist): each test file runs whole in one of them (--dist loadfile), so a module's fixtures
# are built once. A single process of tiny tests keeps about one core busy; a second uses the other.
TEST_JOBS ?= 2
# pytest on tests/ with extra arguments $(1); its status 5 (no test selected) fails as well, with a line saying so.
# --durations lists the slowest tests at the end, to keep the suite's time in view.
pytest = $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --durations=15 $(1) tests \
	|| { status=$$?; [ $$status -ne 5 ] || echo "pytest selected no test" >&2; exit $$status; }

# The fast tier: every test not marked slow (pytest.ini says which are).
test: $(TEST_STAMP)
	$(call pytest,-m "not slow")

# Every test, as CI (.ci/run) runs them.
test-all: $(TEST_STAMP)
	$(call pytest,)

# The end-to-end synthetic smoke test of PhySTD; METHOD=auxiliary, METHOD=despoof or METHOD=lgsc runs it for another method.
demo: $(STAMP)
	$(PY) -m physstd.apps.demo $(if $(METHOD),--method=$(METHOD))

clean:
	rm -rf $(VENV) build *.egg-info
