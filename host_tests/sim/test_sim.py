"""Simulator end to end: scenarios stay within one step of the reference; bad scenarios exit 2 naming the key."""

import json
import os
import subprocess
import sys

import pytest

from tools.sim.scenario import Scenario, ScenarioError
from tools.sim.sim import Simulation, main
from support import ROOT

SCENARIOS = os.path.join(ROOT, "tools", "scenarios")

BASE = {
    "days": 3,
    "pump": {"nl_per_step": 200, "catheter_volume_ul": 150},
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "fill_ul": 20000,
    "therapy": {"mode": "constant", "dose_ug_per_day": 5000},
    "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4},
}


def scenario(**changes):
    doc = json.loads(json.dumps(BASE))
    doc.update(changes)
    return doc


def run(doc):
    return Simulation(Scenario(doc)).run()


@pytest.mark.parametrize("name", sorted(os.listdir(SCENARIOS)))
def test_example_scenarios_deliver_within_one_step_of_the_program(name):
    with open(os.path.join(SCENARIOS, name)) as f:
        doc = json.load(f)
    res = run(doc)
    assert res["max_error_steps"] <= 1
    assert res["steps"] > 0
    assert all(c["ok"] for c in res["commands"] if c["type"] != "patient_bolus"), res["commands"]
    if "plant" not in doc:  # (with faults injected, what reaches the patient is checked by the safety tests)
        # the plant's physical delivery agrees with the programmed volume to within a step
        assert abs(res["delivered_ul"] - res["programmed_ul"]) <= BASE["pump"]["nl_per_step"] / 1000
    # event-driven: about one wake-up per step, never the 864000/day of 10 Hz polling
    assert res["wakeups"] <= res["steps"] + 40 * res["days"] + len(res["commands"]) + 10


def test_year_long_scenarios_include_what_the_issue_asks_for():
    for name in ("constant_365d.json", "flex_365d.json"):
        with open(os.path.join(SCENARIOS, name)) as f:
            doc = json.load(f)
        kinds = {e["type"] for e in doc["events"]}
        assert doc["days"] == 365
        assert {"reset", "refill", "suspend", "resume", "patient_bolus"} <= kinds


def test_resets_never_catch_up():
    events = [{"at_h": h / 7, "type": "reset"} for h in range(1, 3 * 24 * 7, 5)]
    res = run(scenario(events=events))
    assert res["resets"] == len(events)
    assert res["max_error_steps"] <= 1
    # each reset forfeits at most the fraction of a step in progress: never more than programmed
    steps_per_day = 5000 * 1000 * 1000 // 10000 // 200
    assert res["steps"] <= steps_per_day * 3


def test_concentration_change_bridges_the_catheter_and_priming_and_clinician_bolus_are_exact():
    events = [
        {"at_h": 30, "type": "suspend"},
        {"at_h": 30.2, "type": "refill", "fill_ul": 20000, "concentration_ug_per_ml": 20000},
        {"at_h": 30.5, "type": "resume"},
        {"at_h": 50, "type": "suspend"},
        {"at_h": 50.1, "type": "prime", "volume_ul": 100},
        {"at_h": 52, "type": "resume"},
        {"at_h": 60, "type": "clinician_bolus", "dose_ug": 200, "duration_min": 45},
    ]
    res = run(scenario(events=events))
    assert all(c["ok"] for c in res["commands"]), res["commands"]
    assert res["max_error_steps"] <= 1


def _stacked(**changes):
    """20 000 ug/mL in the catheter, refilled with 5 000 at 10 h, then with 10 000 at 12 h; 4 000 ug a day."""
    doc = scenario(days=2, drug={"name": "morphine", "concentration_ug_per_ml": 20000},
                   therapy={"mode": "constant", "dose_ug_per_day": 4000},
                   events=[{"at_h": 10, "type": "refill", "fill_ul": 20000, "concentration_ug_per_ml": 5000},
                           {"at_h": 12, "type": "refill", "fill_ul": 20000, "concentration_ug_per_ml": 10000}])
    doc.update(changes)
    return doc


def test_stacked_concentration_changes_deliver_the_programmed_drug_mass():
    # The second refill restarted the bridge for the whole catheter at the middle drug's strength while the tip still
    # held the first drug: about 6 000 ug reached the patient in the 24 h after it, and no alarm.
    sim = Simulation(Scenario(_stacked()))
    sim.advance(12 * 3600000 + 1)
    assert [c["type"] for c in sim.commands] == ["refill", "refill"]
    m0 = sim.plant.delivered_ug
    sim.advance(36 * 3600000 + 1)
    step_ug = 200 * 20000 / 1e6  # one step of the strongest drug in the catheter
    assert abs(sim.plant.delivered_ug - m0 - 4000) <= step_ug, sim.plant.delivered_ug - m0
    sim.advance(sim.end_ms)
    res = sim.finish()
    assert res["alarms"] == [] and all(c["ok"] for c in res["commands"])
    # the reference paces the same catheter queue: within a step of the firmware at every wake-up, and its drug
    # mass (the program's 4 000 ug a day, exactly) within a step of what the plant delivered
    assert res["max_error_steps"] <= 1
    assert res["programmed_ug"] == 8000
    assert abs(res["delivered_ug"] - res["programmed_ug"]) <= step_ug


def test_stacked_changes_with_a_calibration_error_and_resets_stay_within_a_step_of_the_reference():
    events = _stacked()["events"] + [{"at_h": 10 + i / 3, "type": "reset"} for i in range(1, 12)]
    events += [{"at_h": 13, "type": "patient_bolus"}, {"at_h": 14, "type": "refill", "fill_ul": 20000,
                                                       "concentration_ug_per_ml": 20000}]
    res = run(_stacked(events=sorted(events, key=lambda e: e["at_h"]), plant={"nl_per_step_true": 210}))
    assert res["max_error_steps"] <= 1 and set(_names(res)) == {"OCCLUSION_SENSING_UNAVAILABLE"}  # (each boot)
    assert res["resets"] == 11 and [c["ok"] for c in res["commands"]].count(False) == 0
    # the mechanism moves 5 % more than calibrated: volume and drug mass alike
    assert abs(res["delivered_ul"] / res["programmed_ul"] - 1.05) < 0.002
    assert abs(res["delivered_ug"] / res["programmed_ug"] - 1.05) < 0.01


def test_a_merge_into_the_strength_before_it_survives_back_offs_a_corrupt_store_and_a_reset():
    # Found by the ten-year soak (seed 1): five stacked refills, the fifth merging the 15 000 drug with the 20 000
    # behind it as 20 000, the strength of the segment before; a reset read the queue back with those two as one
    # drug, so the next refill took a slot of its own in the pump and merged in the reference: 75 steps apart
    def refill(at_h, conc):
        return {"at_h": at_h, "type": "refill", "fill_ul": 20000, "concentration_ug_per_ml": conc}

    events = [refill(2, 5000), refill(4, 20000), refill(6, 15000), refill(8, 20000), refill(9, 25000),
              {"at_h": 9.5, "type": "occlusion"}, {"at_h": 11, "type": "occlusion_clear"},
              {"at_h": 11.5, "type": "resume_alarm"},
              {"at_h": 12, "type": "flash_corrupt", "store": "log", "slot": "a"}, {"at_h": 12.01, "type": "reset"},
              refill(13, 5000)]
    sim = Simulation(Scenario(scenario(
        drug={"name": "morphine", "concentration_ug_per_ml": 25000},
        therapy={"mode": "constant", "dose_ug_per_day": 3000},
        plant={"compliance_ul_per_kpa": 0.16, "catheter_resistance_kpa_s_per_ul": 0.32, "sensor_noise_kpa": 0.05},
        events=events)))
    sim.advance(12 * 3600000)
    queue = sim.pump.plan.catheter.segments()
    assert [conc for _nl, conc in queue] == [25000, 5000, 20000] and sim.pump.plan.catheter.merges == 1
    sim.advance(int(12.02 * 3600000))
    assert sim.pump.plan.catheter.segments() == queue  # the reset read back the queue it had
    sim.advance(int(13.01 * 3600000))
    assert [conc for _nl, conc in sim.pump.plan.catheter.segments()] == [25000, 5000, 20000, 25000]
    sim.advance(sim.end_ms)
    res = sim.finish()
    assert [c["ok"] for c in res["commands"]].count(False) == 0 and res["occlusions"][0]["alarm_h"] is not None
    assert sim.plant.steps_forward * sim.plant.nl_per_step > sim.plant.pushed_nl  # the back-off drew drug back
    assert res["max_error_steps"] <= 1


def test_empty_reservoir_stops_delivery_and_raises_low_then_empty():
    res = run(scenario(days=10, fill_ul=4000))
    assert [a["name"] for a in res["alarms"]] == ["RESERVOIR_LOW", "RESERVOIR_EMPTY"]
    assert [a["code"] for a in res["alarms"]] == [3, 2]
    assert [a["priority"] for a in res["alarms"]] == ["medium", "high"]
    # stops at the empty threshold (500 uL left) and never goes on
    assert res["reservoir_true_ul"] == 500
    assert res["delivered_ul"] == 3500


def test_lockout_and_daily_maximum_refusals_carry_their_reason():
    events = [{"at_h": 1 + 0.5 * i, "type": "patient_bolus"} for i in range(3)]
    events += [{"at_h": 8 + 2.5 * i, "type": "patient_bolus"} for i in range(5)]
    res = run(scenario(events=events))
    got = [(b["granted"], b["code"]) for b in res["boluses"]]
    assert got[:3] == [(True, 0), (False, 301), (False, 301)]
    # 8 h, 10.5 h and 13 h are granted (4 within the rolling day), 15.5 h and 18 h are over the daily maximum
    assert got[3:] == [(True, 0), (True, 0), (True, 0), (False, 302), (False, 302)]
    assert res["max_error_steps"] <= 1


@pytest.mark.parametrize(
    "doc, key",
    [
        ({k: v for k, v in BASE.items() if k != "days"}, "days"),
        (scenario(events=[{"at_h": 1, "type": "explode"}]), "events[0].type"),
        (scenario(events=[{"at_h": 1, "type": "refill"}]), "events[0].fill_ul"),
        (scenario(events=[{"at_h": 99, "type": "reset"}]), "events[0].at_h"),
        (scenario(events=[{"at_h": 1, "type": "reset", "when": 2}]), "events[0].when"),
        (scenario(colour="red"), "colour"),
        (scenario(pump={"nl_per_step": 0}), "pump.nl_per_step"),
        (scenario(pump={"nl_per_stp": 200}), "pump.nl_per_stp"),
        (scenario(therapy={"mode": "constant", "dose_ug_per_day": 90000}), "therapy.dose_ug_per_day"),
        (scenario(therapy={"mode": "flex", "steps": [{"start": "01:00", "dose_ug_per_day": 1}]}), "therapy.steps"),
        (scenario(plant={"leak": 1}), "plant.leak"),
    ],
)
def test_malformed_scenarios_name_the_bad_key(doc, key, tmp_path, capsys):
    with pytest.raises(ScenarioError) as e:
        Simulation(Scenario(doc))
    assert key in str(e.value)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert main([str(path)]) == 2
    assert key in capsys.readouterr().err


def test_unreadable_and_non_json_scenarios_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main([str(bad)]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_cli_json_to_stdout_has_the_documented_keys(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario(days=1, events=[{"at_h": 2, "type": "patient_bolus"}])))
    out = subprocess.run([sys.executable, "-m", "tools.sim", str(path), "--json", "-"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    for key in ("delivered_ul", "delivered_ug", "programmed_ul", "programmed_ug", "steps", "max_error_steps",
                "reservoir_ul", "alarms", "boluses", "wakeups", "days"):
        assert key in res
    assert res["boluses"] == [{"t_h": 2.0, "granted": True, "reason": "", "code": 0}]
    assert res["days"] == 1


def test_plot_is_written(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario(days=1)))
    png = tmp_path / "p.png"
    assert main([str(path), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_outputs_go_into_a_new_folder_and_an_unwritable_one_is_refused_in_one_line_before_the_run(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario(days=0.01)))
    out = tmp_path / "new" / "r.json"  # as in a fresh clone: no out/ yet
    assert main([str(path), "--json", str(out), "--plot", str(tmp_path / "new2" / "p.png")]) == 0
    assert json.loads(out.read_text())["days"] == 0.01
    capsys.readouterr()
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([str(path), "--json", str(blocker / "r.json")]) == 2
    err = capsys.readouterr()
    assert err.out == "" and err.err.count("\n") == 1 and err.err.startswith("sim: --json: %s: " % (blocker / "r.json"))


# ---- safety through the whole firmware: hydraulics plant, pressure role, alarms ----

HYDRAULICS = {"compliance_ul_per_kpa": 0.16, "catheter_resistance_kpa_s_per_ul": 0.32, "sensor_noise_kpa": 0.05}


def _names(res):
    return [a["name"] for a in res["alarms"]]


@pytest.mark.parametrize("compliance", [0.16, 0.8])
@pytest.mark.parametrize("dose_ug, conc", [(500, 10000), (5000, 10000), (5000, 1000), (15000, 750)])
def test_full_occlusion_is_caught_held_backed_off_and_resumed(compliance, dose_ug, conc):
    # 0.05, 0.5, 5 and 20 mL/day; default and 5x compliance
    ml_per_day = dose_ug / conc
    onset_h = 6 + 24 / (ml_per_day * 5000 / 200) * 0.37  # a step phase that is not a whole number
    events = [{"at_h": onset_h, "type": "occlusion"}, {"at_h": onset_h + 20, "type": "occlusion_clear"},
              {"at_h": onset_h + 20.1, "type": "resume_alarm"}]
    plant = dict(HYDRAULICS, compliance_ul_per_kpa=compliance)
    res = run(scenario(days=round((onset_h + 22) / 24, 3), fill_ul=40000, plant=plant, events=events,
                       drug={"name": "morphine", "concentration_ug_per_ml": conc},
                       therapy={"mode": "constant", "dose_ug_per_day": dose_ug}, confirm_soft_limits=True))
    (occ,) = res["occlusions"]
    assert occ["alarm_h"] is not None and occ["alarm_h"] < onset_h + 20
    assert occ["undelivered_ul"] <= 10
    assert occ["bolus_after_clear_ul"] <= 2
    assert _names(res) == ["OCCLUSION"]
    assert all(c["ok"] for c in res["commands"])  # the resume was accepted once the line was clear
    assert res["max_error_steps"] <= 1  # no step while held, and the program resumes without catch-up


def test_an_occlusion_hold_outlives_a_reset():
    onset_h = 6.37
    events = [{"at_h": onset_h, "type": "occlusion"}, {"at_h": onset_h + 20, "type": "occlusion_clear"},
              {"at_h": onset_h + 20.1, "type": "resume_alarm"}]
    doc = scenario(days=1.2, plant=HYDRAULICS, events=events)
    plain = run(doc)
    reset = run(dict(doc, events=sorted(events + [{"at_h": onset_h + 5, "type": "reset"}], key=lambda e: e["at_h"])))
    assert set(_names(reset)) == {"OCCLUSION"}  # raised, then restored (logged again) at the reset
    assert abs(reset["steps"] - plain["steps"]) <= 1  # the reset did not restart dosing into the blocked line
    assert all(c["ok"] for c in reset["commands"])  # the resume once the line is clear releases the saved hold
    assert reset["max_error_steps"] <= 1


def test_no_false_alarm_in_a_month_of_noisy_pressure():
    res = run(scenario(days=30, plant=HYDRAULICS))
    assert res["alarms"] == []


def test_stuck_pressure_sensor_is_a_sensor_fault_not_an_occlusion_and_holds_dosing():
    events = [{"at_h": 5, "type": "sensor_fault", "sensor": "pressure", "mode": "stuck"}]
    res = run(scenario(days=1, plant=HYDRAULICS, events=events))
    (alarm,) = res["alarms"]
    assert alarm["name"] == "PRESSURE_SENSOR_FAULT"
    steps_per_h = 5000 * 1000 * 1000 // 10000 // 200 / 24
    assert alarm["t_h"] - 5 <= 33 / steps_per_h  # within 32 readings (one per step) plus one
    # dosing stopped at the fault: the steps after it are only those before detection
    assert res["steps"] <= (alarm["t_h"] + 0.01) * steps_per_h + 1


@pytest.mark.parametrize("mode", ["open", "open_high", "out_of_range", "noisy"])
def test_other_pressure_faults_are_caught(mode):
    events = [{"at_h": 5, "type": "sensor_fault", "sensor": "pressure", "mode": mode}]
    res = run(scenario(days=1, plant=HYDRAULICS, events=events))
    assert _names(res) == ["PRESSURE_SENSOR_FAULT"]
    assert res["alarms"][0]["t_h"] - 5 <= 17 * 24 / 2500


def test_motor_stall_is_caught_within_a_few_steps_and_stops_dosing():
    res = run(scenario(days=1, plant=HYDRAULICS, events=[{"at_h": 5, "type": "motor_stall"}]))
    assert _names(res) == ["MOTOR_STALL"]
    assert (res["alarms"][0]["t_h"] - 5) * 2500 / 24 <= 12  # within 12 commanded steps


def test_battery_elective_replacement_and_end_of_service():
    res = run(scenario(days=1, events=[{"at_h": 2, "type": "battery", "percent": 9}]))
    assert _names(res) == ["BATTERY_ERI"]
    res = run(scenario(days=1, events=[{"at_h": 2, "type": "battery", "percent": 0}]))
    assert "BATTERY_EOS" in _names(res)
    steps_per_h = 2500 / 24
    assert res["steps"] <= 6 * steps_per_h  # dosing stops within the debounced hourly samples
