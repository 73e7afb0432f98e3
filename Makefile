# Everything runs from .venv; the first install compiles llama-cpp-python (~9 min on 2 cores),
# pip caches the wheel so later installs take seconds.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test check typecheck bench lint clean guard-models name-gazetteer static-vectors

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

$(STAMP): pyproject.toml | $(BIN)/python
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --progress-bar off -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/warden serve $(ARGS)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/serve.py

lint: install
	$(BIN)/ruff check src tests benchmarks

# The shipped guard classifiers (src/warden/safety/models/), from data/guard/ (seeded).
guard-models: install
	$(BIN)/python scripts/train_guard.py

# The guard's static sentence vectors, distilled from MiniLM (retrain the heads afterwards).
static-vectors: install
	$(BIN)/python scripts/distil_static_vectors.py

# The PII detector's given-name and surname list (src/warden/safety/data/names.txt), from Faker.
name-gazetteer: install
	$(BIN)/python scripts/build_name_gazetteer.py

typecheck: install
	$(BIN)/mypy

# What CI runs and what gates every landing: lint, strict types on src/, then every test.
check: lint typecheck test

clean:
	rm -rf $(VENV) .warden

# Signed release evidence in dist/release/: the wheel, a CycloneDX SBOM, the dependency lock,
# an in-toto statement with SLSA provenance, its DSSE signature (then verified). Needs
# WARDEN_SIGNING_KEY=PATH (new key: .venv/bin/python -m deploy.release keygen --out PATH).
.PHONY: release-artifacts
release-artifacts: install
	$(BIN)/python -m deploy.release all --venv $(VENV) --out dist/release
