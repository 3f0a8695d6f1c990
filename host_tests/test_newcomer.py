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


# ---- item 3: make run's status lines stay on the hour ----

def test_status_lines_stay_on_the_hour_when_every_sleep_overshoots():
    """A loaded host wakes every sleep late: the console line must stay on the wall clock's hour (06:01, 17:01 and a
    snap back at midnight were what users saw), and start its grid however late the pump booted."""
    import asyncio

    from board.sim import build
    from board.sim.clock import SimRtc, VirtualClock
    from board.sim.hardware import DEMO_SETUP
    from board.sim.plant import Plant
    from pump.app import App, load_library
    from pump.config import PumpConfig

    class LateClock(VirtualClock):
        async def sleep_ms(self, ms):
            await super().sleep_ms(ms + 1234)  # every sleep ends 1.234 s late

    clock = LateClock()
    wall0_s = 838857600 + 7 * 60  # 2026-08-01 00:07: the pump booted a few minutes after the hour
    hw = build({"clock": clock, "plant": Plant(fill_ul=20000), "rtc": SimRtc(clock, wall0_s)})
    lines = []
    app = App(hw, PumpConfig(None), load_library(os.path.join(ROOT, "lib", "druglib.json"), lines.append),
              DEMO_SETUP, out=lines.append)
    asyncio.run(app.run(50 * 3600000))
    stamps = [line[:16] for line in lines if line.startswith("2026-")]
    assert stamps[0] == "2026-08-01 00:07"
    hourly = stamps[1:-1]  # the last line is run()'s own at the end
    assert len(hourly) >= 48
    assert all(s.endswith(":00") for s in hourly), hourly
    assert hourly[:2] == ["2026-08-01 01:00", "2026-08-01 02:00"] and "2026-08-03 00:00" in hourly


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

    bad = _rx(tmp_path, dict(CONSTANT, therapy={"mode": "constant", "dose_ug_per_day": 99999}))
    out = []
    assert run.main(["RX=%s" % bad], out=out.append) == 2
    assert out[0].startswith("make run: RX=%s: E200 hard limit exceeded: therapy.dose_ug_per_day" % bad), out


def _micropython(env, timeout_s=60):
    mpy = os.path.join(os.path.dirname(sys.executable), "micropython")
    return subprocess.run([mpy, "-X", "heapsize=2m", "main.py"], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout_s, env=dict(os.environ, MICROPYPATH=".frozen:lib:.",
                                                                 PUMP_BOARD="sim", **env))


@pytest.mark.parametrize("env, detail", [
    ({"PUMP_SPEED": "0"}, "PUMP_SPEED=0: allowed a whole number 1..3600"),
    ({"PUMP_DAYS": "-1"}, "PUMP_DAYS=-1: allowed a whole number 1..3650"),
    ({"PUMP_DAYS": "abc"}, "PUMP_DAYS=abc: allowed a whole number 1..3650"),
])
def test_the_simulated_board_refuses_bad_knobs_itself_in_its_fail_safe(env, detail):
    """main.py started without tools.run: no task fault with exit 0, no run that stops at once: the fail-safe line."""
    p = _micropython(env)
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


# ---- item 2: every scenario event value checked at load, one line, exit 2 ----

def _scenario(tmp_path, event, plant=None, **top):
    doc = {"version": 1, "days": 2, "fill_ul": 20000, "plant": {"csf_kpa": 1.2} if plant is None else plant,
           "events": [dict({"at_h": 1}, **event)] if event else []}
    doc.update(CONSTANT)
    doc.update(top)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _sim(path, *extra):
    return subprocess.run([sys.executable, "-m", "tools.sim", path] + list(extra), check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("event, plant, detail", [
    ({"type": "sensor_fault", "sensor": "pressure", "mode": "stuk"}, None,
     'events[0].mode: "stuk": allowed for the pressure sensor stuck, open, open_high, noisy, out_of_range, none'),
    ({"type": "sensor_fault", "sensor": "presure", "mode": "stuck"}, None,
     'events[0].sensor: "presure": allowed pressure, battery'),
    ({"type": "sensor_fault", "sensor": "battery", "mode": "out_of_range"}, None,
     'events[0].mode: "out_of_range": allowed for the battery sensor stuck, open, noisy, none'),
    ({"type": "battery", "percent": "9"}, None, 'events[0].percent: must be a finite number, got "9"'),
    ({"type": "battery", "percent": 150}, None, "events[0].percent: 150: allowed 0..100"),
    ({"type": "battery", "percent": -1}, None, "events[0].percent: -1: allowed 0..100"),
    ({"type": "partial_occlusion", "resistance_x": -1}, None, "events[0].resistance_x: -1: allowed 1.01..1000000"),
    ({"type": "partial_occlusion", "resistance_x": 1}, None, "events[0].resistance_x: 1: allowed 1.01..1000000"),
    ({"type": "partial_occlusion", "resistance_x": "20"}, None,
     'events[0].resistance_x: must be a finite number, got "20"'),
    ({"type": "set_clock", "shift_min": "x"}, None, 'events[0].shift_min: must be a finite number, got "x"'),
    ({"type": "reset", "cause": "x"}, None, 'events[0].cause: "x": allowed power_on, watchdog'),
    ({"type": "flash_corrupt", "store": "prog", "slot": "c"}, None, 'events[0].slot: "c": allowed a, b, both'),
    ({"type": "occlusion"}, {}, "events[0].type: the occlusion event needs the catheter hydraulics"),
    ({"type": "sensor_fault", "sensor": "pressure", "mode": "stuck"}, {},
     "events[0].type: the sensor_fault event needs the catheter hydraulics"),
    ({"type": "program", "prescription": "missing.json"}, None,
     "events[0].prescription: missing.json: cannot read (No such file or directory)"),
])
def test_scenario_event_values_are_refused_at_load_in_one_line(tmp_path, event, plant, detail):
    path = _scenario(tmp_path, event, plant)
    p = _sim(path)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("scenario error: %s: %s" % (path, detail)), p.stderr


def test_a_scenario_may_name_its_prescription_file_and_mixing_them_up_is_explained(tmp_path):
    import shutil

    rx = tmp_path / "rx.json"
    shutil.copy(os.path.join(ROOT, "examples", "constant_morphine.json"), rx)
    doc = {"version": 1, "days": 1, "fill_ul": 20000, "prescription": "rx.json",
           "events": [{"at_h": 6, "type": "program", "prescription": "rx.json"}]}
    path = tmp_path / "sc.json"
    path.write_text(json.dumps(doc))
    p = _sim(str(path), "--json", "-")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout[p.stdout.index("{"):])
    assert abs(res["delivered_ul"] - 300) <= 0.2 and all(c["ok"] for c in res["commands"])  # 3000 ug/day at 10 mg/mL
    both = tmp_path / "both.json"
    both.write_text(json.dumps(dict(doc, therapy={"mode": "stopped"})))
    p = _sim(str(both))
    assert p.returncode == 2 and p.stderr.strip() == (
        "scenario error: %s: prescription: names a file, and therapy given too: one or the other" % both)
    p = _sim(str(rx))  # a prescription run as a scenario
    assert p.returncode == 2 and "this is a prescription, not a scenario" in p.stderr and p.stderr.count("\n") == 1
    code, out = _programmer(tmp_path, "check", os.path.join(ROOT, "tools", "scenarios", "safety_4d.json"))
    _one_line_refusal(code, out, "safety_4d.json: this is a scenario (it has events/days), not a prescription: "
                                 "run it with `python -m tools.sim ")


# ---- item 8: the programmer's offline checks and dry runs are the pump's ----

@pytest.mark.parametrize("argv, line", [
    (["check", "RX", "--fill-ul", "0"], "programmer: --fill-ul: E101 value out of range: fill_ul: 0: allowed 1..40000"),
    (["check", "RX", "--fill-ul", "-5"],
     "programmer: --fill-ul: E101 value out of range: fill_ul: -5: allowed 1..40000"),
    (["refill", "--fill-ul", "-5", "--dry-run"],
     "programmer: --fill-ul: E101 value out of range: fill_ul: -5: allowed 1..40000"),
    (["refill", "--fill-ul", "0", "--dry-run", "--rx", "RX"],
     "programmer: --fill-ul: E101 value out of range: fill_ul: 0: allowed 1..40000"),
    (["prime", "--volume-ul", "9999", "--dry-run", "--rx", "RX"],
     "programmer: --volume-ul: E101 value out of range: volume_ul: 9999: allowed 1..5000"),
    (["bolus", "--dose-ug", "1001", "--duration-min", "60", "--dry-run", "--rx", "RX"],
     "programmer: dry run: the pump would refuse bolus: E200 hard limit exceeded: bolus.dose_ug"),
    (["bolus", "--dose-ug", "600", "--duration-min", "60", "--dry-run", "--rx", "RX"],
     "programmer: dry run: the pump would refuse bolus: E201 soft limit needs confirmation: bolus.dose_ug"),
    (["refill", "--fill-ul", "5000", "--concentration", "99999", "--dry-run", "--rx", "RX"],
     "programmer: dry run: the pump would refuse refill: E200 hard limit exceeded: drug.concentration_ug_per_ml"),
    (["bolus", "--dose-ug", "50", "--duration-min", "60", "--dry-run"],
     "programmer: --rx: a dry run of bolus runs the pump's checks against the program it runs"),
    (["suspend", "--rx", "RX", "--device", "PUMP-1"], "programmer: --rx: only with --dry-run"),
])
def test_offline_checks_and_dry_runs_refuse_what_the_pump_refuses(tmp_path, argv, line):
    rx = _rx(tmp_path)
    code, out = _programmer(tmp_path, *[rx if a == "RX" else a for a in argv])
    _one_line_refusal(code, out)
    assert out[0].startswith(line), out


def test_a_dry_run_says_would_send_only_for_what_the_pump_accepts(tmp_path):
    rx = _rx(tmp_path)
    for argv, sent in [
        (["bolus", "--dose-ug", "100", "--duration-min", "30"], "bolus (confirm_soft=False, dose_ug=100, "
                                                                 "duration_min=30)"),
        (["refill", "--fill-ul", "20000", "--concentration", "20000"], "refill (concentration_ug_per_ml=20000, "
                                                                        "fill_ul=20000)"),
        (["prime", "--volume-ul", "150"], "prime (volume_ul=150)"),
    ]:
        code, out = _programmer(tmp_path, *argv, "--dry-run", "--rx", rx)
        assert code == 0 and out == ["dry run: would send " + sent], out


# ---- item 6: the simulation starts on the report's date ----

def test_programmer_simulation_runs_from_the_start_date_so_weekly_overrides_fall_on_their_weekdays(tmp_path):
    weekly = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
              "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 6000}],
                          "weekly": {"sat": [{"start": "00:00", "dose_ug_per_day": 3000}]}}}
    rx = _rx(tmp_path, weekly)
    for start, first_day_ul in (("2026-09-07", 600), ("2026-09-05", 300)):  # a Monday, a Saturday
        code, out = _programmer(tmp_path, "check", rx, "--start", start, "--simulate", "1", "--json")
        assert code == 0, out
        res = json.loads(out[-1])["simulation"]
        assert abs(res["delivered_ul"] - first_day_ul) <= 0.2, (start, res["delivered_ul"])
    code, out = _programmer(tmp_path, "check", rx, "--start", "2026-09-07", "--simulate", "1")
    assert "simulated 1 days from 2026-09-07 00:00:" in out


@pytest.mark.parametrize("start", ["2026-13-01", "yesterday", 20260801, "2023-12-31"])
def test_a_scenario_start_outside_the_pumps_clock_is_refused(tmp_path, start):
    path = _scenario(tmp_path, None, start=start)
    p = _sim(path)
    assert p.returncode == 2 and p.stderr.startswith("scenario error: %s: start: " % path), p.stderr
    assert "allowed a date YYYY-MM-DD, 2024-01-01..2099-12-01" in p.stderr


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
        programmer.main(["--config", str(tmp_path / "none.json"), "check", _rx(tmp_path), "--simulate", "1",
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


# ---- item 9: the simulator's alarms: those raised at boot, each once across resets ----

def test_the_simulator_lists_boot_alarms_and_each_alarm_once_across_resets():
    from tools.sim.scenario import Scenario
    from tools.sim.sim import Simulation, summary

    doc = {"version": 1, "days": 3, "fill_ul": 20000, "events": [{"at_h": 10 * i, "type": "reset"}
                                                                   for i in range(1, 7)]}
    doc.update(CONSTANT)
    res = Simulation(Scenario(doc)).run()
    # no pressure sensor: raised at the first boot, and still the same alarm after six resets
    assert "OCCLUSION_SENSING_UNAVAILABLE" in [a["name"] for a in res["alarms_at_boot"]]
    assert all(a.get("again_after_reset") for a in res["alarms"] if a["name"] == "OCCLUSION_SENSING_UNAVAILABLE")
    assert res["resets"] == 6 and "OCCLUSION_SENSING_UNAVAILABLE" in res["alarms_active"]
    line = next(x for x in summary(res).splitlines() if "alarms" in x)
    assert "alarms at boot OCCLUSION_SENSING_UNAVAILABLE" in line and "OCCLUSION_SENSING_UNAVAILABLE@" not in line
    assert line.endswith("active at the end: %s" % ", ".join(res["alarms_active"]))


def test_an_alarm_acknowledged_and_raised_again_after_a_reset_counts_again():
    from tools.sim.scenario import Scenario
    from tools.sim.sim import Simulation

    doc = {"version": 1, "days": 1, "fill_ul": 20000, "plant": {"csf_kpa": 1.2},
           "events": [{"at_h": 2, "type": "battery", "percent": 9}, {"at_h": 5, "type": "reset"},
                      {"at_h": 6, "type": "battery", "percent": 100}, {"at_h": 7, "type": "acknowledge"},
                      {"at_h": 8, "type": "battery", "percent": 9}]}
    doc.update(CONSTANT)
    res = Simulation(Scenario(doc)).run()
    battery = [a for a in res["alarms"] if a["name"].startswith("BATTERY")]
    assert len({(a["name"], a["t_h"]) for a in battery}) == len(battery)
    assert battery and battery[0]["t_h"] >= 2 and battery[-1]["t_h"] >= 8, battery


# ---- item 7: the pin rules, one place (board modules' PIN_RULES), checked by boardconfig, deploy and at boot ----

@pytest.mark.parametrize("board, assignment, detail", [
    ("esp32_devkit", "hw.en=5", "hw.en: 5: fixed at 23 (boot.py disables the driver on it"),
    ("pico_w", "hw.en=5", "hw.en: 5: fixed at 4 (boot.py disables the driver on it"),
    ("esp32_devkit", "hw.step=23", "hw.en: 23: also the pin of step: each pin serves one role"),
    ("pico_w", "hw.dir=2", "hw.dir: 2: also the pin of step: each pin serves one role"),
    ("pico_w", "hw.buzzer=999", "hw.buzzer: 999: not a GPIO of this board: allowed 0-22, 26-28"),
    ("pico_w", "hw.step=23", "hw.step: 23: reserved on this board (CYW43 wireless power)"),
    ("esp32_devkit", "hw.dir=2", "hw.dir: 2: reserved on this board (boot strapping pin)"),
    ("esp32_devkit", "hw.pressure_adc=27", "hw.pressure_adc: 27: not an ADC input usable with the radio on: "
                                           "allowed 32-39"),
    ("esp32_devkit", "hw.step=35", "hw.step: 35: input only on this board, and step drives its pin"),
    ("pico_w", "hw.pressure_adc=4", "hw.pressure_adc: 4: not an ADC input usable with the radio on: allowed 26-28"),
])
def test_boardconfig_refuses_pins_the_board_rules_out(tmp_path, board, assignment, detail):
    from tools.boardconfig import boardconfig

    cfg = tmp_path / "config.json"
    out = []
    code = boardconfig.main(["--config", str(cfg), "--board", board, "set", assignment], say=out.append)
    assert code == 2 and len(out) == 1 and out[0].startswith("boardconfig: %s: " % cfg), out
    assert detail.replace("config.json: ", "%s: " % cfg) in out[0], out
    assert not cfg.exists()  # nothing half-applied


def test_the_board_refuses_the_same_pins_at_boot_and_accepts_good_ones():
    """The boot path: the board module's build() calls merge_config with its PIN_RULES (read here from its source,
    as boardconfig does, since the module imports machine); a refusal ends in the fail-safe with the same line."""
    from board import drivers
    from pump.errors import PumpError
    from tools.boardconfig import boardconfig

    for board in ("pico_w", "esp32_devkit"):
        pins, settings = boardconfig.board_defaults(board)
        rules = boardconfig.pin_rules(board)
        drivers.merge_config(pins, settings, None, rules=rules)  # the defaults keep the rules
        drivers.merge_config(pins, settings, {"pressure_adc": rules["adc"][1]}, rules=rules)
        with pytest.raises(PumpError, match="hw.buzzer: %d: also the pin of step" % pins["step"]):
            drivers.merge_config(pins, settings, {"buzzer": pins["step"]}, rules=rules)
    for name in ("pico_w.py", "esp32_devkit.py"):
        assert "merge_config(DEFAULT_PINS, DEFAULT_SETTINGS, config, rules=PIN_RULES)" in open(
            os.path.join(ROOT, "board", name)).read()


def test_deploy_refuses_a_config_that_breaks_the_pin_rules(tmp_path):
    from tools.deploy import deploy
    from tools.keys import keys

    assert keys.main(["--out", str(tmp_path / "keys.json")]) == 0
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"format": 1, "board": "esp32_devkit", "hw": {"pressure_adc": 27}, "pump": {}}))
    out = []
    code = deploy.main(["--board", "esp32_devkit", "--config", str(cfg), "--keys", str(tmp_path / "keys.json"),
                        "--dry-run"], say=out.append)
    assert code == 2 and out[-1].startswith("deploy: ") and (
        "hw.pressure_adc: 27: not an ADC input usable with the radio on: allowed 32-39" in out[-1]), out


# ---- friction: options that do nothing in a combination are refused ----

@pytest.mark.parametrize("argv, line", [
    (["--speed", "100"], "sim: --speed: only with --ble (it would do nothing without)"),
    (["--transport", "usb:0"], "sim: --transport: only with --ble (it would do nothing without)"),
    (["--seconds", "5"], "sim: --seconds: only with --ble (it would do nothing without)"),
    (["--ble", "--speed", "0"], "sim: --speed: 0: allowed more than 0, at most 86400"),
])
def test_sim_options_that_do_nothing_are_refused(argv, line):
    p = _sim(os.path.join(ROOT, "tools", "scenarios", "constant_30d.json"), *argv)
    assert p.returncode == 2 and p.stderr == line + "\n" and p.stdout == "", p.stdout + p.stderr


# ---- item 10: the dashboard's history in words; friction: the Linux Chromium flag ----

_NODE_SCRIPT = """
import { readFileSync } from "node:fs";
const web = process.argv[2];
const { describeRecord } = await import(web + "/frames.js");
const defs = JSON.parse(readFileSync(new URL(web + "/pumpdefs.json")));
const out = {};
for (const [code, a, b] of JSON.parse(process.argv[3])) {
  const ev = defs.events[String(code)];
  out[code + ":" + a] = ev.text + ": " + describeRecord(defs, { a, b, a_name: ev.args[0], b_name: ev.args[1] });
}
globalThis.window = {};
const app = await import(web + "/app.js").catch(() => null);
out.linux = app.bluetoothSupport({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36" }).text;
out.other = app.bluetoothSupport({ userAgent: "Mozilla/5.0 (Macintosh) Safari/605" }).text;
console.log(JSON.stringify(out));
process.exit(0);
"""


def test_the_dashboard_history_speaks_words_and_names_the_linux_flag(tmp_path):
    script = tmp_path / "describe.mjs"
    script.write_text(_NODE_SCRIPT)
    web = "file://" + os.path.join(ROOT, "tools", "dashboard", "web")
    records = [[1, 0, 0], [1, 1, 0], [2, 2, 0], [7, 202, 1], [10, 0, 0], [10, 1, 0], [6, 100000, 2], [4, 20000, 0]]
    p = subprocess.run(["node", str(script), web, json.dumps(records)], check=False, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["1:0"] == "boot: power on" and out["1:1"] == "boot: watchdog"
    assert out["2:2"] == "program changed: flex program"
    assert out["7:202"] == "bolus refused: E202 concentration mismatch, patient"
    assert out["10:0"] == "suspended: by the user" and out["10:1"] == "suspended: by the alarm occlusion"
    assert out["6:100000"] == "bolus granted: 100 ug, clinician" and out["4:20000"] == "refill: 20000 uL"
    assert "chrome://flags/#enable-experimental-web-platform-features" in out["linux"]
    assert out["other"].startswith("This browser has no Web Bluetooth")


# ---- item 10: plot labels grouped, refused presses apart ----

def test_plot_marks_are_grouped_per_slot_and_refused_presses_kept_apart():
    from tools.sim.marks import group_marks

    marks = [(0.1 * i, "patient_bolus", True) for i in range(10)] + [(0.55, "bolus refused", False),
                                                                     (0.7, "bolus refused", False),
                                                                     (5.0, "reset", True), (5.01, "occlusion", True)]
    grouped = group_marks(marks, span_h=64, slots=32)  # 2 h per slot
    assert grouped == [(0.0, "patient_bolus x10", True), (0.55, "bolus refused x2", False),
                       (5.0, "reset, occlusion", True)]


def test_the_simulator_marks_a_refused_patient_bolus_as_refused():
    from tools.sim.scenario import Scenario
    from tools.sim.sim import Simulation

    doc = {"version": 1, "days": 1, "fill_ul": 20000,
           "events": [{"at_h": 1, "type": "patient_bolus"}, {"at_h": 1.5, "type": "patient_bolus"},
                      {"at_h": 2, "type": "refill", "fill_ul": 999999}]}
    doc.update(CONSTANT)
    sim = Simulation(Scenario(doc))
    sim.run()
    assert [(m[1], m[2]) for m in sim.marks if m[1] != "occlusion_sensing_unavailable" and m[0] > 0] == [
        ("patient_bolus", True), ("patient_bolus refused", False), ("refill refused", False)]


def test_the_year_plots_labels_stay_few(tmp_path):
    from tools.sim.marks import SLOTS, group_marks
    from tools.sim.scenario import load
    from tools.sim.sim import Simulation

    sim = Simulation(load(os.path.join(ROOT, "tools", "scenarios", "flex_365d.json")))
    sim.run()
    assert len(sim.marks) > 3 * SLOTS  # hundreds of events in a year
    assert len(group_marks(sim.marks, 365 * 24)) <= 2 * SLOTS  # at most a granted and a refused label per slot
