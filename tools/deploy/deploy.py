"""Deploy to a board: build the .mpy firmware, copy it with config.json and keys.json via mpremote, verify.

    python -m tools.deploy --board pico_w|esp32_devkit [--port /dev/ttyACM0] [--keys keys.json]
                           [--config config.json] [--dry-run]                  (or `make deploy BOARD=... PORT=...`)

Steps, each one mpremote call through the `Mpremote` seam (tests replace it): (1) drive the motor driver's EN pin
high and remove the old firmware (lib/pump, board/, boot.py, main.py; the pump's data/ folder, which holds its
program and counters, is kept); (2) copy build/<board>/ (tools/deploy/mpy_build.py, the board's -march) file by file;
(3) copy config.json (the local one, else the board's defaults) and keys.json; (4) verify: read back the firmware
version, parse config.json with the firmware's own code, compare keys.json's SHA-256 without printing it;
(5) hard reset so boot.py and main.py run. Refuses (exit code 2, before touching the board) a BOARD that is not one
board, a missing or world-readable keys file, or a config made for another board.

    python -m tools.deploy --board pico_w --port /dev/ttyACM0 --maintenance      (or `make maintenance ...`)

stops the pump for bench work (calibration, sensor readings): the firmware interrupted, its watchdog stopped (Pico
W) or re-armed for 2 h (ESP32), the motor driver off, then a REPL. A reset (`machine.reset()`, the button, power)
starts the pump again.
"""

import argparse
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import tools
from pump import VERSION
from tools.boardconfig import boardconfig
from tools.boardconfig.boardconfig import ConfigError
from tools.deploy import mpy_build
from tools.keys import keys
from tools.keys.keys import KeysError

ROOT = Path(tools.ROOT)

KEYS_FILE = "keys.json"  # the same name on the board (in its root folder)
CONFIG_FILE = "config.json"
# removed before copying, so no module deleted from the source tree lingers on the board; the emulator suite's test
# hook (board.TEST_HOOK) is never part of a deployment, and one found on a board goes too
FIRMWARE_PATHS = ("lib/pump", "board", "lib/druglib.json", "boot.py", "main.py", "emuhook.py", "emuhook.json")
EXIT_REFUSED = 2
EXIT_FAILED = 1

# The pump's hardware watchdog (8 s) outlives the interrupt and soft reset that mpremote starts with, and nothing
# feeds it at the REPL: first thing, it is stopped, or where it cannot be stopped, re-armed for 2 h. A reset (the end
# of a deployment) brings the firmware back with its own watchdog.
WATCHDOG_OFF = {
    # the RP2040 watchdog has no stop API: clear WATCHDOG_CTRL.ENABLE (bit 30 of the register at 0x40058000)
    "pico_w": "machine.mem32[0x40058000] &= ~0x40000000",
    # the ESP32 task watchdog cannot be stopped; re-arming it takes the new timeout
    "esp32_devkit": "machine.WDT(timeout=7200000)",
}

# Bench maintenance: watchdog off, motor driver off. Runs on the board, first in a deployment and before a REPL.
_MAINTENANCE = """import machine
%(wdt)s
machine.Pin(%(en)r, machine.Pin.OUT, value=1)
"""

# Then the old firmware goes.
_PREPARE = _MAINTENANCE + """import os
def _rm(p):
    try:
        mode = os.stat(p)[0]
    except OSError:
        return
    if mode & 0x4000:
        for e in os.ilistdir(p):
            _rm(p + '/' + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
def _mkdir(p):
    try:
        os.mkdir(p)
    except OSError:
        pass
for p in %(remove)r:
    _rm(p)
for p in %(dirs)r:
    _mkdir(p)
print('prepared')
"""

_VERIFY = """import pump, board
print('version', pump.VERSION)
hw, cfg = board.parse_config(board.read_config(%(config)r), %(board)r)
print('config', cfg.get('nl_per_step', 'default'))
"""


class DeployError(Exception):
    """Deployment refused or failed; the message says what and where."""

    def __init__(self, message, code=EXIT_FAILED):
        super().__init__(message)
        self.code = code


class Mpremote:
    """The seam to a board: runs `mpremote connect PORT <args>` and returns its stdout; DeployError on failure."""

    def __init__(self, port, exe=None):
        self.port = port
        self.exe = exe or str(Path(sys.executable).with_name("mpremote"))

    def interactive(self, args):
        """Run with the terminal attached (a REPL); returns mpremote's exit code."""
        return subprocess.call([self.exe, "connect", self.port] + list(args))

    def run(self, args):
        cmd = [self.exe, "connect", self.port] + list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DeployError("mpremote %s: exit code %d: %s" % (args[0], proc.returncode,
                                                                 (proc.stdout + proc.stderr).strip()[-400:]))
        return proc.stdout


def check_inputs(board, keys_path, config_path):
    """(config document, merged pins, pump part with its numbers as ints) once every input is usable (keys_path None:
    no keys needed); DeployError(code 2) naming the problem."""
    if board not in mpy_build.BOARDS:
        raise DeployError("BOARD=%s: deploy needs one board: %s" % (board, " or ".join(sorted(mpy_build.BOARDS))),
                          EXIT_REFUSED)
    if keys_path is not None:
        try:
            keys.load(keys_path)
        except KeysError as e:
            raise DeployError("keys: %s" % e, EXIT_REFUSED) from e
    try:
        if os.path.exists(config_path):
            doc = boardconfig.load(config_path, board)
        else:
            doc = boardconfig.new_config(board)
        _, merged, pump = boardconfig.check(doc, board)
    except ConfigError as e:
        raise DeployError("config: %s" % e, EXIT_REFUSED) from e
    return doc, merged, pump


def firmware_files(out_dir):
    """[(local path, board path)] of a built tree, sorted, and the folders the board needs for them."""
    files = sorted((str(p), p.relative_to(out_dir).as_posix()) for p in out_dir.rglob("*") if p.is_file())
    dirs = set()
    for _, remote in files:
        parts = remote.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return files, sorted(dirs, key=lambda d: (d.count("/"), d))


def maintenance_code(board, en_pin):
    """What stops a board for bench work: its watchdog off and its motor driver's EN pin high."""
    return _MAINTENANCE % {"wdt": WATCHDOG_OFF[board], "en": en_pin}


def commands(board, files, dirs, en_pin, config_local, keys_local):
    """The mpremote argument lists of a deployment, in order (each one is a `connect PORT ...` call)."""
    cmds = [["exec", _PREPARE % {"wdt": WATCHDOG_OFF[board], "en": en_pin, "remove": FIRMWARE_PATHS, "dirs": dirs}]]
    by_dir = {}
    last = []
    for local, remote in files:
        if remote == "main.py":  # last: a copy cut short leaves a board that does not start half a firmware
            last = [["fs", "cp", "-f", local, ":main.py"]]
            continue
        by_dir.setdefault(remote.rpartition("/")[0], []).append(local)
    for folder in sorted(by_dir):
        # relative board paths throughout (the board starts in /): "./" is the root folder
        cmds.append(["fs", "cp", "-f"] + by_dir[folder] + [":" + (folder or ".") + "/"])
    cmds += last
    cmds.append(["fs", "cp", "-f", config_local, ":" + CONFIG_FILE])
    cmds.append(["fs", "cp", "-f", keys_local, ":" + KEYS_FILE])
    cmds.append(["exec", _VERIFY % {"config": CONFIG_FILE, "board": board}])
    cmds.append(["fs", "sha256sum", ":" + KEYS_FILE])
    cmds.append(["reset"])
    return cmds


def verify(out, key_digest_out, keys_local, expected_version, expected_nl):
    """Check the read-back output of the verify step; DeployError saying what differs."""
    found = dict(line.split(" ", 1) for line in out.strip().splitlines() if " " in line)
    if found.get("version") != expected_version:
        raise DeployError("verify: the board reports firmware %r, expected %r%s" % (
            found.get("version"), expected_version, _NOT_RESET))
    if found.get("config") != str(expected_nl):
        raise DeployError("verify: the board's config.json gives nl_per_step %r, expected %r%s" % (
            found.get("config"), str(expected_nl), _NOT_RESET))
    with open(keys_local, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest not in key_digest_out:
        raise DeployError("verify: keys.json on the board differs from %s%s" % (keys_local, _NOT_RESET))


_NOT_RESET = " (the board was not reset: it stays at its REPL; deploy again once fixed)"


def deploy(board, mp, keys_path, config_path, out_root=None, say=print, dry_run=False):
    """Deploy to the board behind `mp` (an Mpremote, or a fake with .port and .run(args) -> stdout); returns the
    commands (with dry_run, only printed)."""
    doc, merged, pump = check_inputs(board, keys_path, config_path)
    if not os.path.exists(config_path):
        say("note: no %s: the board gets its defaults (uncalibrated nl_per_step); see python -m tools.calibrate"
            % config_path)
    out_root = Path(out_root) if out_root else ROOT / "build"
    errors, _, _ = mpy_build.build(board, out_root)
    if errors:
        raise DeployError("build: %d file(s) failed to compile" % errors)
    out_dir = out_root / board
    config_local = out_dir.parent / (board + "-" + CONFIG_FILE)  # beside the tree, not in it: copied on its own
    config_local.write_text(boardconfig.dumps(doc))
    files, dirs = firmware_files(out_dir)
    cmds = commands(board, files, dirs, merged["en"], str(config_local), keys_path)
    if dry_run:
        for args in cmds:
            if args[0] == "exec":
                say("  mpremote connect %s exec <<\n%s" % (mp.port, "    " + args[1].rstrip().replace("\n", "\n    ")))
            else:
                say("  mpremote connect %s %s" % (mp.port, shlex.join(args)))
        return cmds
    outputs = []
    for i, args in enumerate(cmds):
        say("[%d/%d] mpremote %s" % (i + 1, len(cmds), describe(args)))
        if args == ["reset"]:  # only a verified board is restarted into its new firmware
            verify(outputs[-2], outputs[-1], keys_path, VERSION, pump.get("nl_per_step", "default"))
        outputs.append(mp.run(args))
    say("deployed pump %s to %s (%d files), config.json and keys.json verified; board reset" % (
        VERSION, board, len(files)))
    return cmds


def maintenance(board, mp, config_path, say=print):
    """Stop the pump behind `mp` for bench work and open a REPL on it; returns the REPL's exit code."""
    _, merged, _ = check_inputs(board, None, config_path)
    say("stopping the pump on %s for bench work: watchdog off, motor driver off; a reset starts it again" % mp.port)
    return mp.interactive(["exec", maintenance_code(board, merged["en"]), "repl"])


def describe(args):
    """A short line for one command (exec code reduced to its first line)."""
    if args[0] == "exec":
        return "exec (%s)" % args[1].splitlines()[0][:50]
    if args[0] == "fs" and args[1] == "cp":
        return "fs cp %d file(s) -> %s" % (len(args) - 4, args[-1])
    return " ".join(args)


def main(argv=None, runner=None, say=print):
    ap = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True, help="pico_w or esp32_devkit")
    ap.add_argument("--port", default="auto", help="serial port (default: the first one found)")
    ap.add_argument("--keys", default=str(ROOT / KEYS_FILE), help="keys file (default: keys.json)")
    ap.add_argument("--config", default=str(ROOT / CONFIG_FILE), help="board config (default: config.json)")
    ap.add_argument("--out", help="build folder (default: build/)")
    ap.add_argument("--dry-run", action="store_true", help="print the mpremote commands, run none")
    ap.add_argument("--maintenance", action="store_true", help="stop the pump for bench work, open a REPL")
    args = ap.parse_args(argv)
    mp = runner or Mpremote(args.port)
    try:
        if runner is None and not args.dry_run:
            from tools.deploy.ports import PortError, check_port

            try:
                check_port(args.port)
            except PortError as e:
                raise DeployError(str(e), EXIT_REFUSED) from e
        if args.maintenance:
            return maintenance(args.board, mp, args.config, say)
        deploy(args.board, mp, args.keys, args.config, args.out, say, args.dry_run)
    except DeployError as e:
        say("deploy: %s" % e)
        return e.code
    return 0

