"""`make run`: its knobs checked by tools/run and by the simulated board itself, Ctrl-C, RX=prescription
(issue 16, item 3)."""

import os
import subprocess
import sys

import pytest

from support import ROOT
from support.cli import (CONSTANT, micropython, rx_file)


# ---- item 3: make run's knobs, and Ctrl-C ----

@pytest.mark.parametrize("argv, line", [
    (["DAYS=abc"], "make run: DAYS=abc: allowed a whole number of days, 1..3650"),
    (["DAYS=0.01"], "make run: DAYS=0.01: allowed a whole number of days, 1..3650"),
    (["DAYS=0"], "make run: DAYS=0: allowed a whole number of days, 1..3650"),
    (["DAYS=-1"], "make run: DAYS=-1: allowed a whole number of days, 1..3650"),
    (["SPEED=0"], "make run: SPEED=0: allowed a whole number of times real time, 1..3600"),
    (["SPEED=fast"], "make run: SPEED=fast: allowed a whole number of times real time, 1..3600"),
    (["RX=missing.json"], "make run: RX=missing.json: no such file (a prescription file: examples/*.json)"),
    (["RX=tools/scenarios/safety_4d.json"], "make run: RX=tools/scenarios/safety_4d.json: this is a scenario"),
    (["COLOR=red"], "make run: COLOR=red: unknown knob, allowed DAYS=..., SPEED=..., RX=..., HEAP=..."),
])
def test_make_run_knobs_are_checked_before_the_pump_starts(argv, line, monkeypatch):
    from tools.run import run

    monkeypatch.chdir(ROOT)
    out = []
    assert run.main(argv, out=out.append) == 2
    assert len(out) == 1 and out[0].startswith(line), out


def test_a_prescription_the_pump_refuses_is_refused_by_make_run_naming_the_key(tmp_path):
    from tools.run import run

    bad = rx_file(tmp_path, dict(CONSTANT, therapy={"mode": "constant", "dose_ug_per_day": 99999}))
    out = []
    assert run.main(["RX=%s" % bad], out=out.append) == 2
    assert out[0].startswith("make run: RX=%s: E200 hard limit exceeded: therapy.dose_ug_per_day" % bad), out

@pytest.mark.parametrize("env, detail", [
    ({"PUMP_SPEED": "0"}, "PUMP_SPEED=0: allowed a whole number 1..3600"),
    ({"PUMP_DAYS": "-1"}, "PUMP_DAYS=-1: allowed a whole number 1..3650"),
    ({"PUMP_DAYS": "abc"}, "PUMP_DAYS=abc: allowed a whole number 1..3650"),
])
def test_the_simulated_board_refuses_bad_knobs_itself_in_its_fail_safe(env, detail):
    """main.py started without tools.run: no task fault with exit 0, no run that stops at once: the fail-safe line."""
    p = micropython(env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "PUMP STOPPED, cannot start: E" in p.stdout and detail in p.stdout and "Traceback" not in p.stderr


def test_ctrl_c_stops_make_run_in_one_line_without_traceback():
    import signal
    import time

    p = subprocess.Popen([sys.executable, "-m", "tools.run", "SPEED=3600"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout.readline().startswith("pump ")  # running
        time.sleep(0.5)
        os.killpg(p.pid, signal.SIGINT)  # as the terminal does: to the whole process group
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, out + err
    assert out.rstrip().endswith("stopped by Ctrl-C: the simulated pump is switched off (its data is not kept "
                                 "between runs)")
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_make_run_with_a_prescription_file_runs_it():
    """RX=examples/...: the pump's first boot is filled and programmed with that prescription."""
    import signal

    p = subprocess.Popen([sys.executable, "-m", "tools.run", "RX=examples/ziconotide_very_low_rate.json"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first, status = p.stdout.readline(), p.stdout.readline()
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the launcher and the interpreter it started
        p.communicate()
    assert first.startswith("pump ") and "ziconotide 25 ug/mL constant 2.4 ug/day" in first, first
    assert " running rate 96.0 uL/day " in status, status
