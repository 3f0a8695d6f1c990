"""tools.programmer check: --simulate, --refill-every and --plot out of range or alone are refused in one
line before the report; an endless refill loop cannot start (issue 16, item 1)."""

import sys

import pytest

from support.cli import (bounded, one_line_refusal, run_programmer, rx_file)


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
    code, out = run_programmer(tmp_path, "check", rx_file(tmp_path), *argv)
    one_line_refusal(code, out, "programmer: ", *needles)

@pytest.mark.parametrize("every", [-1, 0])
def test_the_scenario_builder_refuses_a_refill_period_of_zero_or_less_itself(every):
    """The endless loop was in the scenario builder: it refuses such a period itself (defence in depth)."""
    code = ("from tools.programmer.report import InputError, _scenario\n"
            "try:\n    _scenario({}, {}, 20000, 2, %d)\nexcept InputError as e:\n    print(e)\n" % every)
    p = bounded([sys.executable, "-c", code])
    assert p.returncode == 0 and p.stdout.startswith("--refill-every: %d days" % every), p.stdout + p.stderr


def test_the_command_line_refusal_is_one_line_without_traceback(tmp_path):
    p = bounded([sys.executable, "-m", "tools.programmer", "--config", str(tmp_path / "none.json"), "check",
                  rx_file(tmp_path), "--simulate", "2", "--refill-every", "-1"])
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stdout.strip().count("\n") == 0 and "--refill-every" in p.stdout
