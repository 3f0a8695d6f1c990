"""Board selection and the board's config file: picks the hardware module, builds its hardware object lazily."""

import sys

from board import failsafe  # imported now: a failure (a MemoryError too) must not first need an import
# Why the board last reset (hw.reset_cause): stable numbers, logged and sent over BLE.
from pump.config import RESET_OTHER, RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG  # noqa: F401
from pump.config import PumpConfig
from pump.errors import E_MALFORMED, PumpError
from pump.jsonfile import read_json
from pump.units import json_text, whole

BOARDS = ("pico_w", "esp32_devkit", "sim")
LIBRARY_FILE = "/lib/druglib.json"  # the drug library on a board's filesystem (make deploy copies it)

# sys.platform -> board module; anything not listed runs the simulated board.
_BY_PLATFORM = {"rp2": "pico_w", "esp32": "esp32_devkit"}


def board_for_platform(platform):
    """Name of the board module for a sys.platform value ("rp2" -> "pico_w", unknown -> "sim")."""
    return _BY_PLATFORM.get(platform, "sim")


def build(name=None, config=None):
    """Build the hardware object of board `name` (default: the one for sys.platform) from `config` (dict or None).

    Board modules are imported here, not at package import, so `import board` never touches `machine`.
    """
    if name is None:
        name = board_for_platform(sys.platform)
    if name == "pico_w":
        from board import pico_w as mod
    elif name == "esp32_devkit":
        from board import esp32_devkit as mod
    elif name == "sim":
        from board import sim as mod
    else:
        raise PumpError(E_MALFORMED, "board")
    return mod.build(config)


# --- the board's config file ----------------------------------------------------------------------------------------
# config.json in the board's root folder, written by `make deploy` (tools/deploy) and `python -m tools.calibrate`:
#   {"format": 1, "board": "pico_w", "hw": {pin and setting overrides}, "pump": {PumpConfig keys}}
# "hw" is laid over the board module's DEFAULT_PINS / DEFAULT_SETTINGS (board.drivers.merge_config: unknown keys
# refused, numbers checked), "pump" is checked whole by PumpConfig. Both parts are optional. A whole number may be
# written as a float (200.0); refusals name the file and the key path in it: "config.json: pump.nl_per_step: ...".

CONFIG_FILE = "config.json"
CONFIG_FORMAT = 1
_CONFIG_KEYS = ("format", "board", "hw", "pump")


def parse_config(doc, name, where=CONFIG_FILE):
    """(hw overrides, pump config with its numbers as ints) for board `name` from a config document; PumpError naming
    `where` (the file) and the bad key."""
    try:
        return _parse_config(doc, name)
    except PumpError as e:
        raise PumpError(e.code, "%s: %s" % (where, e.detail))


def _parse_config(doc, name):
    if type(doc) is not dict:
        raise PumpError(E_MALFORMED, "must be an object, got %s" % json_text(doc))
    for key in doc:
        if key not in _CONFIG_KEYS:
            raise PumpError(E_MALFORMED, "%s: unknown key" % key)
    if whole(doc.get("format")) != CONFIG_FORMAT:
        raise PumpError(E_MALFORMED, "format: must be %d, got %s" % (CONFIG_FORMAT, json_text(doc.get("format"))))
    if doc.get("board") != name:
        raise PumpError(E_MALFORMED, "board: %r, but this board is %s" % (doc.get("board"), name))
    hw = doc.get("hw", {})
    pump = doc.get("pump", {})
    for key, part in (("hw", hw), ("pump", pump)):
        if type(part) is not dict:
            raise PumpError(E_MALFORMED, "%s: must be an object" % key)
    cfg = PumpConfig(pump)  # the whole pump part is checked now, not at the first use of a key
    return hw, {key: getattr(cfg, key) for key in pump}


def read_config(path=CONFIG_FILE):
    """The config document in `path`, or None when there is no such file; E_MALFORMED when it is not JSON."""
    return read_json(path, "config")


def start(name=None, path=CONFIG_FILE, fail_safe=None):
    """main.py's whole job: the board `name` built from its config file, the app built on it, run. Whatever fails
    before the app runs (the config, the board, the stored data, the app itself) ends in the fail-safe
    (board.failsafe: motor off, the high-priority alarm pattern, one console line), never in a REPL or a reset loop.
    Returns the app once its run is over (the board's run time, e.g. `make run DAYS=`), None after a fail-safe."""
    if name is None:
        name = board_for_platform(sys.platform)
    hw = None
    try:
        hw, pump = configured(name, path)
        from pump.app import App, load_library, run

        setup, run_for_ms, library_path = _app_args(name)
        app = App(hw, PumpConfig(pump), load_library(library_path), setup, run_for_ms)
    except Exception as e:  # noqa: BLE001 - anything at all: the pump must not be left silent with the motor on
        (fail_safe or failsafe.fail_safe)(e, name, hw)
        return None
    return run(app)


def _app_args(name):
    """(first set-up, run time, drug library file) for the app on board `name`: none, none and LIBRARY_FILE on a
    board; the simulated board's demo pump for `make run` (board.sim.demo_app_args)."""
    if name == "sim":
        from board import sim

        return sim.demo_app_args()
    return None, None, LIBRARY_FILE


def configured(name=None, path=CONFIG_FILE):
    """(hardware object, pump configuration) of board `name` (default: by platform) from its config file: the
    hardware built with the file's "hw" part, and its "pump" part (a dict of PumpConfig keys, None without one). No
    file: the board's defaults. A file that is malformed or made for another board raises PumpError, so the pump never
    runs on a calibration it could not read. The simulated board has no config file (its configuration comes from the
    simulator)."""
    if name is None:
        name = board_for_platform(sys.platform)
    if name == "sim":
        return build(name), None
    doc = read_config(path)
    if doc is None:
        return build(name), None
    hw_cfg, pump = parse_config(doc, name)
    return build(name, hw_cfg), pump


def build_configured(name=None, path=CONFIG_FILE):
    """The hardware object of configured(): on the REPL of `make maintenance` (calibration, bench checks)."""
    return configured(name, path)[0]
