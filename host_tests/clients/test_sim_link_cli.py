"""Watching and programming a pump without hardware, as a user runs it (subprocesses bounded in time): `python -m
tools.telemetry --sim SCENARIO` and `python -m tools.programmer ... --sim SCENARIO` serve the simulated pump in the
same process on Bumble's virtual link, as each stock stack would (`--ble-stack`), and open the secure session on it;
bad input is one line and exit 2."""

import csv
import inspect
import json
import os
import sys

import pytest

from support.cli import bounded
from support import ROOT
import pump.bleservice
import pump.gatt
from pump.session import SESSION_UUID
from tools.keys import keys

SCENARIO = os.path.join(ROOT, "tools", "scenarios", "constant_30d.json")
# the firmware's BLE service carries the session once its GATT table has the Session characteristic (issue 15's
# firmware side); until then a connection ends in "no Session characteristic" and the runs below cannot pass
SERVED = any(("SESSION_UUID" in inspect.getsource(m) or SESSION_UUID in inspect.getsource(m))
             for m in (pump.gatt, pump.bleservice))
needs_session = pytest.mark.skipif(not SERVED, reason="the firmware's BLE service does not carry the session yet")
STACKS = ("rp2-btstack", "esp32-nimble")


def telemetry(*argv, timeout_s=90):
    return bounded([sys.executable, "-m", "tools.telemetry", *argv], timeout_s)


def programmer(*argv, timeout_s=90):
    return bounded([sys.executable, "-m", "tools.programmer", "--config", os.devnull, *argv], timeout_s)


@pytest.fixture
def key_file(tmp_path):
    path = str(tmp_path / "keys.json")
    keys.create(path)
    return path


def refused(proc, *needles):
    """One line on the output, exit 2, no traceback."""
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    for n in needles:
        assert n in lines[0], lines
    return lines[0]


@pytest.mark.parametrize("argv, words", [
    (["--sim", SCENARIO, "--ble-stack", "zephyr", "--once"], ["--ble-stack: 'zephyr': allowed esp32-nimble, "
                                                              "rp2-btstack"]),
    (["--sim", "no-such.json", "--once"], ["--sim: no-such.json: cannot read"]),
    (["--ble-stack", "rp2-btstack", "--once"], ["--ble-stack: only with --sim"]),
    (["--sim", SCENARIO, "--device", "PUMP-0001", "--once"], ["--device: not with --sim"]),
    (["--sim", SCENARIO, "--duration", "-3"], ["--duration", "must be above 0"]),
])
def test_bad_input_to_the_telemetry_sim_is_one_line_and_exit_2(key_file, argv, words):
    refused(telemetry(*argv, "--keys", key_file, "--pump-keys", key_file), *words)


def test_a_keys_file_without_a_monitor_key_is_named(tmp_path, key_file):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"clinician": "ab" * 32, "patient": "cd" * 32}))
    os.chmod(path, 0o600)
    refused(telemetry("--sim", SCENARIO, "--keys", str(path), "--pump-keys", key_file, "--once"), "no monitor key",
            str(path))


def test_the_simulated_pumps_keys_missing_are_named(tmp_path, key_file):
    refused(telemetry("--sim", SCENARIO, "--keys", key_file, "--pump-keys", str(tmp_path / "none.json"), "--once"),
            "the simulated pump's keys", "none.json")


def test_bad_input_to_the_programmer_sim_is_one_line_and_exit_2(key_file):
    refused(programmer("status", "--sim", SCENARIO, "--ble-stack", "x", "--keys", key_file),
            "--ble-stack: 'x': allowed esp32-nimble, rp2-btstack")
    refused(programmer("status", "--sim", SCENARIO, "--device", "PUMP-1", "--keys", key_file), "one link at a time")
    refused(programmer("status", "--ble-stack", "rp2-btstack", "--device", "PUMP-1", "--keys", key_file),
            "--ble-stack: only with --sim")


def test_the_simulator_refuses_an_unknown_stack_and_a_stack_without_ble():
    proc = bounded([sys.executable, "-m", "tools.sim", SCENARIO, "--ble", "--ble-stack", "nimble"])
    refused(proc, "sim: --ble-stack: 'nimble': allowed esp32-nimble, rp2-btstack")
    refused(bounded([sys.executable, "-m", "tools.sim", SCENARIO, "--ble-stack", "rp2-btstack"]),
            "--ble-stack: only with --ble")


@needs_session
@pytest.mark.parametrize("stack", STACKS)
def test_telemetry_once_follows_the_simulated_pump_through_the_session(key_file, stack, tmp_path):
    out = tmp_path / "once.csv"
    proc = telemetry("--sim", SCENARIO, "--ble-stack", stack, "--keys", key_file, "--pump-keys", key_file, "--once",
                     "--csv", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and "constant, running: rate 500.0 uL/day" in lines[0], lines
    assert [r["kind"] for r in csv.DictReader(out.open())] == ["status", "alarm"]


@needs_session
@pytest.mark.parametrize("stack", STACKS)
def test_telemetry_follows_for_a_duration_with_the_monitor_only_file(key_file, tmp_path, stack):
    monitor = str(tmp_path / "monitor.json")
    keys.export_monitor(monitor, key_file)
    proc = telemetry("--sim", SCENARIO, "--ble-stack", stack, "--keys", monitor, "--pump-keys", key_file,
                     "--duration", "4", "--speed", "3600")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    statuses = [line for line in proc.stdout.splitlines() if ": rate " in line]
    assert len(statuses) >= 2, proc.stdout


@needs_session
@pytest.mark.parametrize("stack", STACKS)
def test_telemetry_history_over_the_session(key_file, stack):
    proc = telemetry("--sim", SCENARIO, "--ble-stack", stack, "--keys", key_file, "--pump-keys", key_file,
                     "--history")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].endswith("records") and "power on" in proc.stdout


@needs_session
def test_a_monitor_key_that_is_not_the_pumps_is_refused_in_one_line(key_file, tmp_path):
    other = str(tmp_path / "other.json")
    keys.create(other)
    line = refused(telemetry("--sim", SCENARIO, "--keys", other, "--pump-keys",
                             key_file, "--once"), "session refused: 500 authentication failed")
    assert "not this pump's key" in line


@needs_session
@pytest.mark.parametrize("stack", STACKS)
def test_the_programmer_reads_and_commands_the_simulated_pump_through_the_session(key_file, stack):
    proc = programmer("status", "--sim", SCENARIO, "--ble-stack", stack, "--keys", key_file)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("constant, running: rate 500.0 uL/day"), proc.stdout
    proc = programmer("suspend", "--sim", SCENARIO, "--ble-stack", stack, "--keys", key_file)
    assert (proc.returncode, proc.stdout.strip()) == (0, "suspend: done"), proc.stdout + proc.stderr


@needs_session
@pytest.mark.parametrize("stack", STACKS)
def test_the_programmers_history_export_reads_the_simulated_pump_through_the_session(key_file, stack, tmp_path):
    out, signed = tmp_path / "history.csv", tmp_path / "history.json"
    proc = programmer("history", "--sim", SCENARIO, "--ble-stack", stack, "--keys", key_file, "--csv", str(out),
                      "--signed", str(signed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert "refill" in [r["event"] for r in rows] and "records decoded" in proc.stdout, proc.stdout
    assert programmer("verify", str(signed), "--keys", key_file).returncode == 0
    refused(programmer("history", "--sim", SCENARIO, "--device", "PUMP-1", "--csv", str(out), "--keys", key_file),
            "--from, --device or --sim")
