# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Everything else here is for developers.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DB ?= $(CURDIR)/.demo/alliance-demo.sqlite3
VALIDATORS := tests/validators

.PHONY: demo test fuzz lint bench eval train venv dev clean

# A stamp per extra, so editing pyproject.toml reinstalls but nothing else does.
$(BIN)/.base-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.dev-installed: pyproject.toml $(BIN)/.base-installed $(VALIDATORS)/node_modules/.installed
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The official FHIR R4 JSON schema that the FHIR tests validate against (tests/fhir_r4.py),
# from the npm registry at set-up time; the tests never download anything.
$(VALIDATORS)/node_modules/.installed: $(VALIDATORS)/package.json $(VALIDATORS)/package-lock.json
	npm ci --prefix $(VALIDATORS) --ignore-scripts --no-audit --no-fund
	touch $@

venv: $(BIN)/.base-installed
dev: $(BIN)/.dev-installed

demo: $(BIN)/.base-installed
	mkdir -p $(dir $(DEMO_DB))
	$(BIN)/alliance demo --db $(DEMO_DB) --host $(HOST) --port $(PORT)

test: $(BIN)/.dev-installed
	$(BIN)/python -m pytest

# The API fuzzing of the suite (tests/web/test_api_fuzz.py) at ten times its size: 20,000
# generated requests over every operation, and 400 scenarios that follow the OpenAPI links.
fuzz: $(BIN)/.dev-installed
	ALLIANCE_FUZZ_CASES=20000 ALLIANCE_FUZZ_SCENARIOS=400 \
		$(BIN)/python -m pytest -q -s tests/web/test_api_fuzz.py

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench eval training
	$(BIN)/mypy

bench: $(BIN)/.dev-installed
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

eval: $(BIN)/.dev-installed
	$(BIN)/python eval/evaluate.py
	$(BIN)/python eval/matching_simulation.py
	$(BIN)/python eval/evaluate_trajectories.py
	$(BIN)/python eval/evaluate_miti_codes.py

# Training needs ../shared/data and the CPU torch wheel; a user's clone does not need it.
train: $(BIN)/.dev-installed
	$(BIN)/python -m pip install -q "torch==2.13.0" -e ".[train]"
	$(BIN)/python training/train_text_models.py
	$(BIN)/python training/train_miti_heads.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
