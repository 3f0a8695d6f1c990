"""What the tests of the command-line tools share (CPython only): a prescription file, the programmer run in
process, a one-line refusal, subprocesses bounded in time and memory, a scenario file and the simulator's command
line, main.py on the unix port. Issue 16: every bad input is one line, exit code 2, no traceback."""

import json
import os
import subprocess
import sys

from support import ROOT
from tools.programmer import programmer

CONSTANT = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
            "therapy": {"mode": "constant", "dose_ug_per_day": 5000},
            "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}


def rx_file(tmp_path, doc=CONSTANT, name="rx.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def run_programmer(tmp_path, *argv):
    out = []
    code = programmer.main(["--config", str(tmp_path / "no-config.json")] + list(argv), say=out.append)
    return code, out


def one_line_refusal(code, out, *needles):
    assert code == 2, out
    assert len(out) == 1 and "\n" not in out[0], out  # refused before the report: nothing half-done
    for n in needles:
        assert n in out[0], out


def bounded(argv, timeout_s=60):
    """A subprocess with 1 GB of address space and a time limit: an endless loop fails the test, not the machine."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(argv, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
                          preexec_fn=limit)


def micropython(env, timeout_s=60):
    mpy = os.path.join(os.path.dirname(sys.executable), "micropython")
    return subprocess.run([mpy, "-X", "heapsize=2m", "main.py"], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout_s, env=dict(os.environ, MICROPYPATH=".frozen:lib:.",
                                                                 PUMP_BOARD="sim", **env))


def scenario_file(tmp_path, event, plant=None, **top):
    doc = {"version": 1, "days": 2, "fill_ul": 20000, "plant": {"csf_kpa": 1.2} if plant is None else plant,
           "events": [dict({"at_h": 1}, **event)] if event else []}
    doc.update(CONSTANT)
    doc.update(top)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return str(path)


def run_sim(path, *extra):
    return subprocess.run([sys.executable, "-m", "tools.sim", path] + list(extra), check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
