"""The simulator's alarms and plot marks: those raised at boot, each once across resets, labels grouped, refusals
apart (issue 16, items 9 and 10)."""

import os


from support import ROOT
from support.cli import (CONSTANT)


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
