# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast test-scale bench clean

# The venv is (re)built whenever requirements.txt or pyproject.toml is newer than it.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app/streamlit_app.py

# axe-core for the accessibility test, pinned in tests/package-lock.json; without npm that test
# skips with a sentence (CI installs npm, so there it always runs).
AXE := tests/node_modules/.installed
$(AXE): tests/package.json tests/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests --no-audit --no-fund --loglevel=error && touch $(AXE); \
	else echo "npm is missing: the accessibility test will skip (apt-get install npm)"; fi

# One worker per core; a test file per worker unless it splits itself (tests/conftest.py: its server, browser
# and fixtures stay together), the files with browser or slow tests first.
XDIST := -n auto --dist loadgroup

test: $(STAMP) $(AXE)
	ALEXNET_VIZ_OFFLINE=1 $(PY) -m pytest -q $(XDIST)

# The optional scale extra (Ray Data indexing): installs requirements-scale.txt into the venv and
# runs the tests marked `scale`, which `make test` skips, each with a sentence, while Ray is absent.
test-scale: $(STAMP)
	$(PY) -m pip install -q -r requirements-scale.txt
	ALEXNET_VIZ_OFFLINE=1 $(PY) -m pytest -q -m scale

# The inner loop: no browser, nothing marked slow.
test-fast: $(STAMP)
	ALEXNET_VIZ_OFFLINE=1 $(PY) -m pytest -q $(XDIST) -m "not browser and not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_forward.py
	$(PY) benchmarks/bench_attribution.py

# The README's pictures, made by the app itself in headless Chromium (docs/screenshots.py).
.PHONY: screenshots
screenshots: $(STAMP)
	ALEXNET_VIZ_OFFLINE=1 $(PY) docs/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts tests/node_modules
