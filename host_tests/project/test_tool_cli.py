"""The tools' command lines: a missing package in one line, make help, make deploy DRY_RUN=1, a missing serial
port (issue 16, item 4 and the friction list)."""

import os
import subprocess
import sys

import pytest

from support import ROOT
from support.cli import (rx_file)
from tools.programmer import programmer


# ---- item 4: a Python without a tool's package gets one line naming the Python to use ----

@pytest.mark.parametrize("package", ["matplotlib", "bleak"])
def test_a_missing_package_is_one_line_naming_the_venv(package, monkeypatch, capsys):
    import tools

    monkeypatch.setitem(sys.modules, package, None)  # as a Python without it: ModuleNotFoundError at import

    def main():
        __import__(package)

    assert tools.cli(main, "tools.x") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tools.x: needs the Python package %s, which " % package)
    assert "run `.venv/bin/python -m tools.x ...` (`make install` sets up .venv)" in err


def test_a_missing_firmware_module_stays_a_bug(monkeypatch):
    import tools

    monkeypatch.setitem(sys.modules, "pump.nothing", None)
    with pytest.raises(ModuleNotFoundError):
        tools.cli(lambda: __import__("pump.nothing"), "tools.x")


def test_the_plot_dependency_is_checked_before_the_report(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "tools.sim.plot", raising=False)
    out = []
    with pytest.raises(ModuleNotFoundError):
        programmer.main(["--config", str(tmp_path / "none.json"), "check", rx_file(tmp_path), "--simulate", "1",
                         "--plot", str(tmp_path / "p.png")], say=out.append)
    assert out == []  # nothing printed before: tools.cli turns it into its one line


def test_make_help_starts_here_and_lists_every_knob_with_its_default():
    p = subprocess.run(["make", "-s", "help"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("start here:\n")
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    import re

    knobs = re.findall(r"^([A-Z_]+) \?=[ ]?(.*)$", makefile, re.M)
    assert len(knobs) >= 10
    for name, default in knobs:
        assert re.search(r"^  %s=%s +\S" % (name, re.escape(default)), p.stdout, re.M), name


def test_make_deploy_dry_run_and_a_missing_serial_port(tmp_path):
    p = subprocess.run(["make", "-s", "repl", "PORT=%s" % (tmp_path / "ttyACM7")], check=False, cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout.strip() == (
        "PORT=%s: no such serial port (is the board plugged in? serial ports here: none)" % (tmp_path / "ttyACM7"))
    p = subprocess.run(["make", "-n", "deploy", "BOARD=pico_w", "DRY_RUN=1"], check=False, cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "-m tools.deploy --board pico_w --port auto --dry-run" in p.stdout
