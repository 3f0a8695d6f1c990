"""The pump firmware as `make deploy BOARD=pico_w` lays it out on a board, as {path: bytes} for the emulator's
littlefs image: build/pico_w/ from tools/deploy/mpy_build.py (lib/pump and board .mpy files, lib/druglib.json,
boot.py, main.py) through tools/deploy/deploy.py's own file list, config.json checked and written as deploy writes it,
and keys.json.
The emulator tests' hook (verify/emu/hook.py as emuhook.py, and its emuhook.json) is added only when asked for:
deploy never copies it."""

import json
import os
import tempfile
from pathlib import Path

from tools.boardconfig import boardconfig
from tools.deploy import deploy, mpy_build

BOARD = "pico_w"
HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hook.py")
# test keys (never a pump's): the programmer signs with the clinician's, the patient's is for patient commands
KEYS = {"clinician": "c1" * 32, "patient": "9a" * 32}
CLINICIAN_KEY = bytes.fromhex(KEYS["clinician"])
PATIENT_KEY = bytes.fromhex(KEYS["patient"])
_BUILT = {}


def built(opt_level=0):
    """{board path: bytes} of the .mpy build, compiled once per process (tools/deploy/mpy_build.py, -march of the
    board)."""
    if opt_level not in _BUILT:
        with tempfile.TemporaryDirectory(prefix="emu-mpy-") as tmp:
            errors, _, _ = mpy_build.build(BOARD, Path(tmp), opt_level)
            if errors:
                raise RuntimeError("mpy-cross failed on %d firmware file(s)" % errors)
            files, _dirs = deploy.firmware_files(Path(tmp) / BOARD)
            _BUILT[opt_level] = {remote: Path(local).read_bytes() for local, remote in files}
    return dict(_BUILT[opt_level])


def config_json(hw=None, pump=None):
    """config.json for the board: `hw` and `pump` parts checked by the firmware's rules, as deploy writes them."""
    doc = boardconfig.new_config(BOARD)
    doc["hw"] = dict(hw or {})
    doc["pump"] = dict(pump or {})
    try:
        boardconfig.check(doc, BOARD)
    except boardconfig.ConfigError as e:
        raise ValueError("config: %s" % e) from e
    return boardconfig.dumps(doc).encode()


def files(hw=None, pump=None, hook=None, keys=KEYS, firmware=None):
    """The deploy layout with this configuration; `hook` (dict: emuhook.json's settings) adds the test hook;
    `firmware` replaces the .mpy build (a frozen image needs only boot.py, main.py and the data files)."""
    out = built() if firmware is None else dict(firmware)
    out[deploy.CONFIG_FILE] = config_json(hw, pump)
    if keys is not None:
        out[deploy.KEYS_FILE] = json.dumps(keys).encode()
    if hook is not None:
        out["emuhook.py"] = Path(HOOK).read_bytes()
        out["emuhook.json"] = json.dumps(hook).encode()
    return out
