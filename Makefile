# Two entry points for a fresh machine: `make run` and `make test`. Both create .venv and install
# what they need when pyproject.toml changed since the last install (a stamp file), so reruns are fast.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
# Where `make model` keeps the musicnn wheel whose checkpoints the taggers are ported from.
MUSICNN ?= .cache/musicnn

.PHONY: run test lint model bench reliability

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.run-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[train,test]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(VENV)/bin/needlebot run

test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .

# Rebuild the bundled models: the bridge (GTZAN genre from the 26 features, the taste model's sound
# route), the musicnn taggers ported from their wheel (the heard tags), then the taste model from
# Fantano's reviews (its honest test: training/reports/taste.md), then measure how re-encoding the shared
# recordings moves the scores (training/reports/stability.md).
model: $(VENV)/.test-installed
	$(PY) -m training bridge --data $(DATA)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps musicnn==0.1.0 -d $(MUSICNN)
	$(PY) -m training ears --wheel $(MUSICNN)
	$(PY) -m training taste --data $(DATA)
	$(PY) -m training stability --data $(DATA)

bench: $(VENV)/.test-installed
	$(PY) -m benchmarks.features
	$(PY) -m benchmarks.bot
	$(PY) -m benchmarks.album

# Regenerate RELIABILITY.md: the bad-input cases (and later load and faults) through the real bot.
reliability: $(VENV)/.test-installed
	$(PY) -m tests.reliability.report
