"""The programmer on the clinical pathway: a refill's reconciliation in plain words, the battery check of a program
(refused without --confirm-battery, its forecast shown), and the offline report's battery dates."""

import json

from support.simpump import SimPump, run_programmer

RX = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
      "therapy": {"mode": "constant", "dose_ug_per_day": 5000}}
FAST = {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},  # 15 mL/day
        "therapy": {"mode": "constant", "dose_ug_per_day": 15000}, "confirm_soft_limits": True}


def _file(tmp_path, doc, name="rx.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def _running(tmp_path):
    sim = SimPump()
    assert run_programmer(tmp_path, sim, "refill", "--fill-ul", "20000", "--concentration", "10000")[0] == 0
    assert run_programmer(tmp_path, sim, "send", _file(tmp_path, RX))[0] == 0
    sim.run_for(10 * 86400000)  # 0.5 mL/day: 5 mL gone
    return sim


def test_a_refill_within_the_tolerance_says_so(tmp_path):
    sim = _running(tmp_path)
    expected = sim.pump.expected_residual_ul()
    code, out = run_programmer(tmp_path, sim, "refill", "--fill-ul", "20000", "--aspirated-ul", str(expected - 500))
    assert code == 0
    assert out[-1] == "refill: expected residual %d uL, aspirated %d uL (tolerance %d uL): within the tolerance" % (
        expected, expected - 500, (expected * 15 + 99) // 100)


def test_less_back_than_expected_names_a_pocket_fill_as_an_emergency(tmp_path):
    sim = _running(tmp_path)
    expected = sim.pump.expected_residual_ul()
    code, out = run_programmer(tmp_path, sim, "refill", "--fill-ul", "20000", "--aspirated-ul", "1000")
    assert code == 0 and "DISCREPANCY of %+d uL" % (1000 - expected) in out[-3]
    assert "over-infusion" in out[-2] and "pocket fill is an emergency" in out[-2]
    assert out[-1] == "refill: the pump logged it and raised REFILL_DISCREPANCY (medium); the refill itself was applied"
    assert sim.pump.reservoir.remaining_ul == 20000


def test_more_back_than_expected_names_under_infusion(tmp_path):
    sim = _running(tmp_path)
    code, out = run_programmer(tmp_path, sim, "refill", "--fill-ul", "20000", "--aspirated-ul", "20000")
    assert code == 0 and "under-infusion" in out[-2] and "occlusion" in out[-2] and "calibration" in out[-2]


def test_an_aspirated_volume_out_of_range_is_one_line_exit_2_and_nothing_sent(tmp_path):
    sim = _running(tmp_path)
    before = sim.pump.log.last_seq
    for bad in ("-5", "40001"):
        code, out = run_programmer(tmp_path, sim, "refill", "--fill-ul", "20000", "--aspirated-ul", bad)
        assert code == 2 and len(out) == 1 and out[0].startswith("programmer: --aspirated-ul: E101 value out of range: "
                                                                  "aspirated_ul: %s: allowed 0..40000" % bad)
    assert sim.pump.log.last_seq == before


def test_a_program_bringing_replacement_within_90_days_needs_confirm_battery(tmp_path):
    sim = SimPump()
    assert run_programmer(tmp_path, sim, "refill", "--fill-ul", "40000", "--concentration", "1000")[0] == 0
    code, out = run_programmer(tmp_path, sim, "send", _file(tmp_path, FAST))
    assert code == 3 and out[-1].startswith("programmer: the pump refused send: E600 ")
    assert out[-1].endswith("(--confirm-battery)") and sim.pump.therapy is None
    code, out = run_programmer(tmp_path, sim, "send", _file(tmp_path, FAST), "--confirm-battery")
    assert code == 0 and out[-2].startswith('program: done {"eos_days": ')
    assert out[-1].startswith("battery: elective replacement 20") and " end of service " in out[-1]


def test_the_offline_report_shows_the_battery_dates_and_the_confirmation_needed(tmp_path):
    from tools.programmer import programmer

    out = []
    assert programmer.main(["--config", str(tmp_path / "none.json"), "check", _file(tmp_path, RX), "--start",
                            "2026-03-01"], say=out.append) == 0
    text = out[-1]
    assert "battery (a new cell, every patient bolus taken): elective replacement on 20" in text
    assert "--confirm-battery" not in text
    out = []
    assert programmer.main(["--config", str(tmp_path / "none.json"), "check", _file(tmp_path, FAST), "--json"],
                           say=out.append) == 0
    b = json.loads(out[-1])["report"]["battery_forecast"]
    assert b["needs_confirmation"] and 0 < b["eri_days"] < 90 < b["eos_days"] and not b["no_90_day_warning"]
