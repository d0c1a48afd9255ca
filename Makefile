# Developer loop. `make test` is the CI suite (the README's test command runs it in a fresh venv).
.PHONY: lint format test-fast test

lint:  ## ruff check + format check (what CI runs before the tests)
	ruff check .
	ruff format --check .

format:  ## fix what ruff can
	ruff check --fix .
	ruff format .

test-fast:  ## everything but the slow and vLLM tests (a few minutes on 2 cores)
	pytest -q -m "not slow and not vllm"

test:  ## the whole suite (CI)
	pytest -q
