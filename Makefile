# Everything a fresh machine needs comes from here: a pinned uv bootstraps the locked environment.
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test soak lint types unit env clean

run: env  ## migrate ./linli.db, load the demo district, serve it on http://127.0.0.1:8000
	scripts/ensure-fonts
	$(BIN)/linli db upgrade
	$(BIN)/linli demo
	$(BIN)/linli serve --host 127.0.0.1 --port 8000

test: env  ## the whole suite: lint, format, types, tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	scripts/ensure-browser
	scripts/ensure-fonts
	$(BIN)/pytest -n auto --dist worksteal  # every core (pytest-xdist; an idle core takes tests queued for a busy one); figures: pytest -p no:xdist -s

soak: env  ## the long variants (LINLI_SOAK=1): kill -9 under load, 20 rounds; the ledger race, 10,000 ops; schemathesis's command line as all three roles
	LINLI_SOAK=1 $(BIN)/pytest -p no:xdist -s tests/reliability \
		tests/store/test_races.py::test_concurrent_credits_and_redemptions_never_overdraw

bench: env  ## the benchmark harness (not part of the suite): ratios to this machine's ceilings
	scripts/ensure-wrk
	$(BIN)/python -m bench $(BENCH_ARGS)  # options: make bench BENCH_ARGS="--rounds 5"; -h lists them

env: $(VENV)/.synced

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python python3
	touch $@

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache .bench
