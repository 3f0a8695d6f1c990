"""The clinical pathway through the simulator: refills reconciled against what was aspirated (a calibration error
the plant hides comes back as more than expected), listed in the result."""

import json

from tools.sim.scenario import Scenario
from tools.sim.sim import Simulation, summary

BASE = {
    "days": 25,
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "fill_ul": 20000,
    "therapy": {"mode": "constant", "dose_ug_per_day": 5000},  # 0.5 mL/day
}


def _run(events, **changes):
    doc = json.loads(json.dumps(BASE))
    doc.update(changes, events=events)
    return Simulation(Scenario(doc)).run()


def test_refills_are_listed_with_expected_aspirated_and_added():
    res = _run([{"at_h": 240, "type": "refill", "fill_ul": 30000, "aspirated_ul": 15000},
                {"at_h": 480, "type": "refill", "fill_ul": 20000}])
    first, second = res["refills"]
    assert first["t_h"] == 240 and first["added_ul"] == 30000 and first["concentration_ug_per_ml"] == 10000
    assert 14900 <= first["expected_ul"] <= 15100 and first["aspirated_ul"] == 15000  # 10 days at 0.5 mL/day
    assert first["discrepancy_ul"] == 0 and first["tolerance_ul"] == (first["expected_ul"] * 15 + 99) // 100
    assert 24900 <= second["expected_ul"] <= 25100 and second["aspirated_ul"] is None
    assert second["discrepancy_ul"] == 0
    assert "REFILL_DISCREPANCY" not in [a["name"] for a in res["alarms"]]


def test_a_mechanism_moving_less_than_calibrated_comes_back_as_more_than_expected():
    plant = {"nl_per_step_true": 150}  # a step moves 150 nL, not the 200 the pump counts
    probe = _run([{"at_h": 480, "type": "refill", "fill_ul": 20000}], plant=plant)["refills"][0]
    truth = probe["true_ul"]
    assert truth - probe["expected_ul"] > 2000  # a quarter of 20 days' 10 mL stayed in the reservoir
    res = _run([{"at_h": 480, "type": "refill", "fill_ul": 20000, "aspirated_ul": truth}], plant=plant)
    refill = res["refills"][0]
    assert refill["discrepancy_ul"] == truth - refill["expected_ul"] > refill["tolerance_ul"]
    alarm = [a for a in res["alarms"] if a["name"] == "REFILL_DISCREPANCY"]
    assert alarm == [{"t_h": 480, "code": 18, "name": "REFILL_DISCREPANCY", "priority": "medium"}]
    assert "REFILL_DISCREPANCY" in res["alarms_active"]  # until a clinician acknowledges it
    assert "refill at 480.0 h: expected %d uL, aspirated %d uL: discrepancy +%d uL" % (
        refill["expected_ul"], truth, refill["discrepancy_ul"]) in summary(res)


def test_an_aspirated_volume_the_pump_refuses_is_a_refused_command():
    res = _run([{"at_h": 24, "type": "refill", "fill_ul": 20000, "aspirated_ul": 50000}])
    assert res["refills"] == [] and res["commands"][0]["ok"] is False and "aspirated_ul" in res["commands"][0]["error"]


def test_the_result_carries_the_battery_forecast_measured_day_by_day():
    res = _run([], days=5)
    b = res["battery_forecast"]
    assert b["reason"] == "ok" and b["measured"] and 365 < b["eri_days"] < b["eos_days"]
    assert b["eri_date"] > "2026-08-06" and b["programs_confirmed"] == 0 and not b["no_90_day_warning"]
    assert "battery: elective replacement %s (in %d days)" % (b["eri_date"], b["eri_days"]) in summary(res)


def test_a_fast_program_is_refused_unless_the_scenario_confirms_it():
    import pytest

    from tools.sim.scenario import ScenarioError

    fast = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
            "therapy": {"mode": "constant", "dose_ug_per_day": 15000}, "confirm_soft_limits": True, "days": 1}
    with pytest.raises(ScenarioError, match="therapy: E600 "):
        _run([], confirm_battery=False, **fast)
    b = _run([], **fast)["battery_forecast"]
    assert b["programs_confirmed"] == 1 and b["eri_days"] < 90


def test_a_battery_sensor_fault_leaves_no_forecast_and_says_why():
    res = _run([{"at_h": 1, "type": "sensor_fault", "sensor": "battery", "mode": "open"}], days=1)
    b = res["battery_forecast"]
    assert b["eri_days"] is None and b["eri_date"] is None and b["reason"] in ("battery sensor fault",
                                                                                "no battery reading yet")
    assert "battery: no forecast: " in summary(res)


def test_a_flex_schedule_in_a_zone_west_of_utc_matches_the_reference_with_clock_corrections():
    flex = {"therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 2000},
                                                  {"start": "08:00", "dose_ug_per_day": 6000}]},
            "pump": {"utc_offset_min": -300}, "days": 3.5}  # ends at 12:00 UTC, 07:00 in the patient's day
    res = _run([{"at_h": 30, "type": "set_clock", "shift_min": 3}, {"at_h": 60, "type": "set_clock",
                                                                     "shift_min": -2}], **flex)
    assert res["max_error_steps"] <= 1.0 and all(c["ok"] for c in res["commands"])
    utc = _run([], **dict(flex, pump={}))
    local = _run([], **flex)
    assert local["delivered_ul"] != utc["delivered_ul"]  # the day rate starts 5 h later in the patient's day
