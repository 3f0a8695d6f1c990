"""`make run`'s knobs checked before the pump starts, then main.py on the MicroPython unix port with the simulated
board: DAYS (whole days of pump time, then stop; empty: until Ctrl-C), SPEED (pump time per real time), RX (a
prescription file for the first boot, checked by the firmware's own parser; empty: the demo prescription).

A bad knob exits with code 2 and one line naming it and what is allowed. Ctrl-C stops the run with one line and exit
code 0 (main.py says so on the simulated board): the simulated pump's data is not kept between runs.
"""

import os
import signal
import subprocess
import sys

from tools import ROOT

from pump.config import PumpConfig
from pump.druglib import DrugLibrary
from pump.errors import PumpError
from pump.jsonfile import read_json
from pump.prescription import parse_prescription
from pump.units import whole

LIBRARY = os.path.join(ROOT, "lib", "druglib.json")
DAYS_MAX = 3650
SPEED_MAX = 3600  # faster, a loaded machine wakes the dosing task too late: bursts the over-delivery check stops
KNOBS = ("DAYS", "SPEED", "RX", "HEAP")
EXIT_INPUT = 2


class KnobError(Exception):
    """A knob out of its allowed set: the message names it and says what is allowed."""


def _whole(name, text, lo, hi, unit):
    try:
        n = whole(float(text)) if text.strip() else None
    except ValueError:
        n = None
    if n is None or not lo <= n <= hi:
        raise KnobError("%s=%s: allowed a whole number of %s, %d..%d" % (name, text, unit, lo, hi))
    return n


def check_rx(path, library_path=LIBRARY):
    """The prescription document in `path`, checked as the pump will check it at its first boot."""
    try:
        doc = read_json(path, "RX")
    except PumpError as e:
        raise KnobError("RX=%s: not valid JSON (a prescription file: examples/*.json)" % path) from e
    if doc is None:
        raise KnobError("RX=%s: no such file (a prescription file: examples/*.json)" % path)
    if isinstance(doc, dict) and ("events" in doc or "days" in doc):
        raise KnobError("RX=%s: this is a scenario (it has events/days), not a prescription: "
                        "run it with `make sim SCENARIO=%s`" % (path, path))
    try:
        parse_prescription(doc, DrugLibrary.load(library_path), PumpConfig(None).nl_per_step,
                           bool(isinstance(doc, dict) and doc.get("confirm_soft_limits")))
    except PumpError as e:
        raise KnobError("RX=%s: %s" % (path, e)) from e
    return doc


def environment(knobs):
    """The environment main.py reads on the simulated board (board/sim/hardware.py) from the knobs (strings)."""
    env = {"PUMP_BOARD": "sim"}
    days = knobs.get("DAYS", "")
    if days != "":
        env["PUMP_DAYS"] = str(_whole("DAYS", days, 1, DAYS_MAX, "days"))
    env["PUMP_SPEED"] = str(_whole("SPEED", knobs.get("SPEED", "") or "3600", 1, SPEED_MAX, "times real time"))
    rx = knobs.get("RX", "")
    if rx != "":
        check_rx(rx)
        env["PUMP_RX"] = os.path.abspath(rx)
    return env


def parse_knobs(argv):
    knobs = {}
    for arg in argv:
        name, eq, value = arg.partition("=")
        if not eq or name not in KNOBS:
            raise KnobError("%s: unknown knob, allowed %s (as in make run DAYS=2)" % (arg, ", ".join(
                "%s=..." % k for k in KNOBS)))
        knobs[name] = value
    return knobs


def main(argv=None, out=print):
    argv = sys.argv[1:] if argv is None else argv
    try:
        knobs = parse_knobs(argv)
        env = environment(knobs)
    except KnobError as e:
        out("make run: %s" % e)
        return EXIT_INPUT
    venv_bin = os.path.dirname(sys.executable)
    micropython = os.path.join(venv_bin, "micropython")
    env.update(MICROPYPATH=".frozen:lib:.")
    heap = knobs.get("HEAP") or "2m"
    child = subprocess.Popen([micropython, "-X", "heapsize=%s" % heap, "main.py"], cwd=ROOT,
                             env=dict(os.environ, **env))
    # Ctrl-C reaches the whole terminal's process group: main.py stops the simulated pump with one line; wait for it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: child.terminate())  # a stopped launcher stops the pump too
    return child.wait()
