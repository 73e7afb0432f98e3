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

# llama.cpp is built for x86-64-v3 (AVX2, FMA, F16C, BMI2), not -march=native: on a CPU
# with AMX, a native build runs ggml's AMX kernels, and where the kernel or hypervisor has not
# granted AMX state (this CI machine) the first batched decode dies of a general protection
# fault at `ldtilecfg` (ggml_backend_amx_mul_mat). v3 also runs on any x86-64 CPU of the last
# decade. Other architectures keep llama.cpp's defaults.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif

$(STAMP): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip install --progress-bar off -e '.[dev]'
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
