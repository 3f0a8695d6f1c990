"""The newcomer's first hour (issue 16): every bad input a user can type into the tools is refused with exit code 2
and one line naming the input, the key and what is allowed, before anything runs; no traceback, no endless loop."""

import json
import os
import subprocess
import sys

import pytest

from tools.programmer import programmer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSTANT = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
            "therapy": {"mode": "constant", "dose_ug_per_day": 5000},
            "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}


def _rx(tmp_path, doc=CONSTANT, name="rx.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def _programmer(tmp_path, *argv):
    out = []
    code = programmer.main(["--config", str(tmp_path / "no-config.json")] + list(argv), say=out.append)
    return code, out


def _one_line_refusal(code, out, *needles):
    assert code == 2, out
    assert len(out) == 1 and "\n" not in out[0], out  # refused before the report: nothing half-done
    for n in needles:
        assert n in out[0], out


# ---- item 1: --refill-every and the options that do nothing ----

@pytest.mark.parametrize("argv, needles", [
    (["--simulate", "2", "--refill-every", "0"], ("--refill-every: 0 days", "more than 0")),
    (["--simulate", "2", "--refill-every", "nan"], ("--refill-every: nan days",)),
    (["--simulate", "2", "--refill-every", "3"], ("--refill-every: 3 days", "at most --simulate (2)")),
    (["--simulate", "0"], ("--simulate: 0 days", "allowed 0.001..3650")),
    (["--simulate", "inf"], ("--simulate: inf days", "allowed 0.001..3650")),
    (["--plot", "out.png"], ("--plot: only with --simulate DAYS",)),
    (["--refill-every", "7"], ("--refill-every: only with --simulate DAYS",)),
])
# (-1, the endless loop, only in a bounded subprocess below)
def test_simulation_options_out_of_range_or_alone_are_refused_before_the_report(tmp_path, argv, needles):
    code, out = _programmer(tmp_path, "check", _rx(tmp_path), *argv)
    _one_line_refusal(code, out, "programmer: ", *needles)


def _bounded(argv, timeout_s=60):
    """A subprocess with 1 GB of address space and a time limit: an endless loop fails the test, not the machine."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(argv, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
                          preexec_fn=limit)


@pytest.mark.parametrize("every", [-1, 0])
def test_the_scenario_builder_refuses_a_refill_period_of_zero_or_less_itself(every):
    """The endless loop was in the scenario builder: it refuses such a period itself (defence in depth)."""
    code = ("from tools.programmer.report import InputError, _scenario\n"
            "try:\n    _scenario({}, {}, 20000, 2, %d)\nexcept InputError as e:\n    print(e)\n" % every)
    p = _bounded([sys.executable, "-c", code])
    assert p.returncode == 0 and p.stdout.startswith("--refill-every: %d days" % every), p.stdout + p.stderr


def test_the_command_line_refusal_is_one_line_without_traceback(tmp_path):
    p = _bounded([sys.executable, "-m", "tools.programmer", "--config", str(tmp_path / "none.json"), "check",
                  _rx(tmp_path), "--simulate", "2", "--refill-every", "-1"])
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stdout.strip().count("\n") == 0 and "--refill-every" in p.stdout
