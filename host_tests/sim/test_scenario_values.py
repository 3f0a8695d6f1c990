"""Scenario files: every event value checked at load in one line, a prescription file named by a scenario,
the start date, options of tools.sim that do nothing (issue 16, items 2 and 6)."""

import json
import os

import pytest

from support import ROOT
from support.cli import (one_line_refusal, run_programmer, run_sim, rx_file,
                         scenario_file)


# ---- item 2: every scenario event value checked at load, one line, exit 2 ----

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
    path = scenario_file(tmp_path, event, plant)
    p = run_sim(path)
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
    p = run_sim(str(path), "--json", "-")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout[p.stdout.index("{"):])
    assert abs(res["delivered_ul"] - 300) <= 0.2 and all(c["ok"] for c in res["commands"])  # 3000 ug/day at 10 mg/mL
    both = tmp_path / "both.json"
    both.write_text(json.dumps(dict(doc, therapy={"mode": "stopped"})))
    p = run_sim(str(both))
    assert p.returncode == 2 and p.stderr.strip() == (
        "scenario error: %s: prescription: names a file, and therapy given too: one or the other" % both)
    p = run_sim(str(rx))  # a prescription run as a scenario
    assert p.returncode == 2 and "this is a prescription, not a scenario" in p.stderr and p.stderr.count("\n") == 1
    code, out = run_programmer(tmp_path, "check", os.path.join(ROOT, "tools", "scenarios", "safety_4d.json"))
    one_line_refusal(code, out, "safety_4d.json: this is a scenario (it has events/days), not a prescription: "
                                 "run it with `python -m tools.sim ")

# ---- item 6: the simulation starts on the report's date ----

def test_programmer_simulation_runs_from_the_start_date_so_weekly_overrides_fall_on_their_weekdays(tmp_path):
    weekly = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
              "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 6000}],
                          "weekly": {"sat": [{"start": "00:00", "dose_ug_per_day": 3000}]}}}
    rx = rx_file(tmp_path, weekly)
    for start, first_day_ul in (("2026-09-07", 600), ("2026-09-05", 300)):  # a Monday, a Saturday
        code, out = run_programmer(tmp_path, "check", rx, "--start", start, "--simulate", "1", "--json")
        assert code == 0, out
        res = json.loads(out[-1])["simulation"]
        assert abs(res["delivered_ul"] - first_day_ul) <= 0.2, (start, res["delivered_ul"])
    code, out = run_programmer(tmp_path, "check", rx, "--start", "2026-09-07", "--simulate", "1")
    assert "simulated 1 days from 2026-09-07 00:00:" in out


@pytest.mark.parametrize("start", ["2026-13-01", "yesterday", 20260801, "2023-12-31"])
def test_a_scenario_start_outside_the_pumps_clock_is_refused(tmp_path, start):
    path = scenario_file(tmp_path, None, start=start)
    p = run_sim(path)
    assert p.returncode == 2 and p.stderr.startswith("scenario error: %s: start: " % path), p.stderr
    assert "allowed a date YYYY-MM-DD, 2024-01-01..2099-12-01" in p.stderr

# ---- friction: options that do nothing in a combination are refused ----

@pytest.mark.parametrize("argv, line", [
    (["--speed", "100"], "sim: --speed: only with --ble (it would do nothing without)"),
    (["--transport", "usb:0"], "sim: --transport: only with --ble (it would do nothing without)"),
    (["--seconds", "5"], "sim: --seconds: only with --ble (it would do nothing without)"),
    (["--ble", "--speed", "0"], "sim: --speed: 0: allowed more than 0, at most 86400"),
])
def test_sim_options_that_do_nothing_are_refused(argv, line):
    p = run_sim(os.path.join(ROOT, "tools", "scenarios", "constant_30d.json"), *argv)
    assert p.returncode == 2 and p.stderr == line + "\n" and p.stdout == "", p.stdout + p.stderr
