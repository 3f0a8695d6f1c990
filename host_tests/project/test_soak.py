"""One simulated year of the long soak (verify/soak.py; `make soak` runs ten): no invariant violated, and the year
really exercised what the soak claims (resets, refills, boluses, faults of every kind, their alarms)."""

import pytest

from verify.soak import HOUR_MS, Soak, summary


@pytest.fixture(scope="module")
def year():
    # seed 4: a year that draws every kind of event (seed 1's first year, once posture no longer read as a noisy
    # pressure sensor, held one refill, no battery change and 5 faults; `make soak` runs ten years of seed 1)
    return Soak(days=365, seed=4).run()


def test_a_year_of_soak_violates_no_invariant(year):
    s = year["soak"]
    assert s["violations"] == [], summary(year)
    assert s["invariant_checks"] == year["wakeups"]  # checked at every wake-up
    assert s["max_lead_steps"] <= 1
    assert "OVER_DELIVERY" not in s["false_alarms"]  # clock corrections, resets and long suspends included


def test_the_year_exercised_every_kind_of_event(year):
    s = year["soak"]
    c = s["counts"]
    assert c["resets"] >= 10 and c["watchdog_resets"] >= 2
    assert c["refills"] >= 2 and c["patient_boluses"] >= 500 and c["clinician_boluses"] >= 2
    assert c["programs"] >= 2 and c["suspends"] >= 2 and c["battery_replacements"] >= 1
    assert c["clock_sets"] >= 10 and c["clock_sets_refused"] >= 1  # a fourth correction within a day is refused
    assert sum(s["faults"].values()) >= 8
    for name in ("OCCLUSION", "RESERVOIR_LOW", "WATCHDOG_RESET", "BATTERY_EOS"):
        assert s["alarms_by_code"].get(name, 0) >= 1, name
    assert year["steps"] > 300000


def test_the_soak_is_deterministic():
    a = Soak(days=20, seed=7).run()
    b = Soak(days=20, seed=7).run()
    for key in ("steps", "wakeups", "alarms", "commands", "boluses"):
        assert a[key] == b[key]
    assert a["soak"]["counts"] == b["soak"]["counts"]


def _occlusion_then_reset():
    soak = Soak(days=2, seed=3)
    soak._resume_pending = True  # nobody resumes: the hold must last, resets included
    soak._at(10 * HOUR_MS, "occlusion")
    soak._at(14 * HOUR_MS, "reset", cause="watchdog")
    soak._at(20 * HOUR_MS, "reset", cause="power_on")
    return soak.run()


def test_a_hold_lasts_across_resets_in_the_soak():
    res = _occlusion_then_reset()
    assert res["soak"]["violations"] == [], summary(res)
    assert res["soak"]["alarms_by_code"]["OCCLUSION"] == 3  # raised, then raised again by each boot (latched)


def test_the_soak_catches_a_reset_that_drops_a_safety_hold(monkeypatch):
    # the bug the soak found: holds were not restored at boot, so a reset resumed dosing (a watchdog reset during a
    # stall, occlusion or sensor-fault hold)
    from pump.safety import Safety

    monkeypatch.setattr(Safety, "restore", lambda self, latched, base, jump, now: None)
    res = _occlusion_then_reset()
    assert any("ahead of the program" in v["what"] for v in res["soak"]["violations"])
