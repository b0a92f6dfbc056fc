# The two everyday commands (see README): `make demo` and `make test`.
SHELL := /bin/bash
export OMP_NUM_THREADS ?= 1
VENV := .venv/bin

.PHONY: setup demo test lint fmt bench wheel-smoke

setup:
	@scripts/setup.sh

demo: setup
	$(VENV)/datagen pipeline --recipe default --review auto

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

fmt: setup
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

test: lint
	DATAGEN_TEST_PG_URL=$$(scripts/pg-for-tests.sh) HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1 \
		$(VENV)/pytest -q
	scripts/wheel-smoke.sh

wheel-smoke:
	scripts/wheel-smoke.sh

bench: setup
	$(VENV)/python bench/bench_import.py
