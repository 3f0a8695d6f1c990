"""The screening trial on the Pump (pump.trialcmds, pump.screening): titration steps applied as programs when a day
begins, at most one step further a day and never back, the planned end logged with the last step running on, a
clinician's program ending the titration, resets mid-trial, and pain scores in order (baseline first), in the event
log with their role. The rig is support/rig.py's (Monday 2026-08-03 08:00)."""

from support import raises
from support.druglib import LIBRARY_DOC
from support.rig import Rig, rx
from pump import events as ev
from pump.alarms import A_STORE_CORRUPT
from pump.druglib import DrugLibrary
from pump.errors import (E_CONC_MISMATCH, E_HARD_LIMIT, E_NO_BASELINE, E_NO_TRIAL, E_RANGE, E_TRIAL_NOT_STARTED,
                         E_TRIAL_STARTED, PumpError)
from pump.screening import END_PLANNED, END_PROGRAM, END_UNREADABLE

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

DAY_MS = 86400000
TRIAL = {"start": "2026-08-04", "end": "2026-08-10", "drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
         "titration": [{"day": 0, "dose_ug_per_day": 100}, {"day": 2, "dose_ug_per_day": 200},
                       {"day": 4, "dose_ug_per_day": 400}]}


def rig():
    r = Rig(fill_ul=20000, prescription=rx(dose_ug=200, conc=1000))
    r.pump.set_trial(TRIAL, now=r.now)
    return r


def dose_ug(r):
    return r.pump.therapy.daily[0][1] // 1000


def codes(r, *wanted):
    return [e for e in r.events() if e[0] in wanted]


def test_each_step_is_applied_as_a_program_on_its_day_and_the_last_runs_on_after_the_planned_end():
    r = rig()
    assert dose_ug(r) == 200 and r.pump.screening.step == -1  # before the start: the program in force runs on
    seen = []
    for _ in range(9):  # 2026-08-04 08:00 .. 08-12 08:00
        r.run(DAY_MS)
        seen.append(dose_ug(r))
    assert seen == [100, 100, 200, 200, 400, 400, 400, 400, 400]
    assert r.pump.plan.running  # the trial never stops therapy by itself
    assert codes(r, ev.TRIAL_STEP) == [(ev.TRIAL_STEP, 0, 100000), (ev.TRIAL_STEP, 1, 200000),
                                       (ev.TRIAL_STEP, 2, 400000)]
    assert codes(r, ev.TRIAL_END) == [(ev.TRIAL_END, 3, END_PLANNED)]
    assert codes(r, ev.TRIAL_PROGRAMMED)[0][1:] == (r.pump.screening.trial.start_day, r.pump.screening.trial.end_day)


def test_a_step_is_applied_at_the_first_wake_of_its_day_within_the_day():
    r = rig()
    r.run(16 * 3600000 - 1)  # 08-03 23:59:59.999
    assert r.pump.screening.step == -1
    r.run(2 * 3600000)
    assert r.pump.screening.step == 0 and dose_ug(r) == 100


def test_a_clock_set_days_ahead_moves_the_titration_one_step_a_day_never_several():
    r = rig()
    r.run(DAY_MS)  # step 0
    r.pump.set_clock(r.pump.wall_s(r.now) + 4 * 86400, now=r.now)  # 08-09 08:00: step 2 due by the calendar
    r.run(3600000)
    assert r.pump.screening.step == 1 and dose_ug(r) == 200  # one step further, not to 400 at once
    r.run(DAY_MS)
    assert r.pump.screening.step == 2


def test_a_clock_set_past_the_planned_end_ends_the_titration_at_the_next_step_only():
    r = rig()
    r.run(DAY_MS)  # step 0
    r.pump.set_clock(r.pump.wall_s(r.now) + 30 * 86400, now=r.now)
    r.run(2 * DAY_MS)
    assert r.pump.screening.step == 1 and r.pump.screening.ended == END_PLANNED and dose_ug(r) == 200


def test_a_clock_set_back_never_takes_the_titration_back():
    r = rig()
    r.run(3 * DAY_MS)  # step 1 (200)
    r.pump.set_clock(r.pump.wall_s(r.now) - 5 * 86400, now=r.now)
    r.run(2 * DAY_MS)
    assert r.pump.screening.step == 1 and dose_ug(r) == 200


def test_a_clinicians_program_during_the_trial_ends_the_titration():
    r = rig()
    r.run(DAY_MS)
    r.pump.program(rx(dose_ug=150, conc=1000), now=r.now)
    r.run(6 * DAY_MS)
    assert dose_ug(r) == 150  # no later step overrides the clinician
    assert codes(r, ev.TRIAL_END) == [(ev.TRIAL_END, 1, END_PROGRAM)]
    assert r.pump.screening.ended == END_PROGRAM


def test_a_reset_mid_trial_keeps_the_step_and_applies_a_step_that_fell_due_while_off_once():
    r = rig()
    r.run(DAY_MS + 3600000)  # step 0
    r.boot()
    assert r.pump.screening.step == 0 and dose_ug(r) == 100
    r.clock.t_ms += 2 * DAY_MS  # off for two days (the RTC runs on): step 1 fell due meanwhile
    r.boot()
    r.run(3600000)
    assert r.pump.screening.step == 1 and dose_ug(r) == 200
    r.boot()
    r.run(3600000)
    assert [e[1] for e in codes(r, ev.TRIAL_STEP)] == [0, 1]  # each step once


def test_a_trial_refused_changes_nothing_and_is_logged():
    r = Rig(fill_ul=20000, prescription=rx(dose_ug=200, conc=1000))
    before = r.blobs("trial", "prog")
    bad = dict(TRIAL, titration=[{"day": 0, "dose_ug_per_day": 100}, {"day": 2, "dose_ug_per_day": 25000}])
    for doc, code in ((bad, E_HARD_LIMIT), (dict(TRIAL, end="2026-08-01"), E_RANGE),
                      (dict(TRIAL, drug={"name": "morphine", "concentration_ug_per_ml": 2000}), E_CONC_MISMATCH)):
        with raises(PumpError) as e:
            r.pump.set_trial(doc, now=r.now)
        assert e.value.code == code
        assert r.events()[-1] == (ev.PROGRAM_REJECTED, code, 0)
    assert r.blobs("trial", "prog") == before and r.pump.screening.trial is None
    r.run(3 * DAY_MS)
    assert dose_ug(r) == 200


def test_a_stored_trial_the_library_now_refuses_is_never_stepped_and_the_program_runs_on():
    r = rig()
    r.run(DAY_MS)  # step 0 at 100 ug/day
    doc = dict(LIBRARY_DOC)
    doc["drugs"] = dict(LIBRARY_DOC["drugs"])
    doc["drugs"]["morphine"] = dict(doc["drugs"]["morphine"], daily_dose_ug_per_day={
        "hard_min": 50, "soft_min": None, "soft_max": None, "hard_max": 150})
    r.library = DrugLibrary.from_doc(doc)
    r.boot()
    assert r.pump.screening.ended == END_UNREADABLE
    r.run(5 * DAY_MS)
    assert dose_ug(r) == 100 and r.pump.plan.running
    assert (ev.TRIAL_END, 1, END_UNREADABLE) in r.events()


def test_pain_scores_come_baseline_first_then_during_the_trial_with_their_role_and_survive_a_reset():
    r = Rig(fill_ul=20000, prescription=rx(dose_ug=200, conc=1000))
    p = r.pump
    with raises(PumpError) as e:
        p.pain_score(5, True, now=r.now)
    assert e.value.code == E_NO_TRIAL
    p.set_trial(TRIAL, now=r.now)
    with raises(PumpError) as e:
        p.pain_score(5, False, now=r.now)
    assert e.value.code == E_TRIAL_NOT_STARTED
    for score in (-1, 11):
        with raises(PumpError) as e:
            p.pain_score(score, True, now=r.now)
        assert e.value.code == E_RANGE
    r.run(DAY_MS)  # the trial started without a baseline
    with raises(PumpError) as e:
        p.pain_score(4, False, now=r.now)
    assert e.value.code == E_NO_BASELINE
    with raises(PumpError) as e:
        p.pain_score(8, True, now=r.now)
    assert e.value.code == E_TRIAL_STARTED
    assert codes(r, ev.PAIN_SCORE) == []  # no refused score is logged


def test_accepted_scores_are_logged_with_role_and_side_effects():
    r = Rig(fill_ul=20000, prescription=rx(dose_ug=200, conc=1000))
    p = r.pump
    p.set_trial(TRIAL, now=r.now)
    p.pain_score(8, True, 0, 0, 1, now=r.now)
    r.run(DAY_MS)
    p.pain_score(3, False, 0b101, 42, 2, now=r.now)
    r.boot()
    assert codes(r, ev.PAIN_SCORE) == [(ev.PAIN_SCORE, 8 | 16 | 1 << 8, 0), (ev.PAIN_SCORE, 3 | 2 << 8, 5 | 42 << 16)]
    assert r.pump.screening.baseline == 1


def test_a_trial_slot_spoilt_by_bit_rot_is_an_event_and_an_alarm_and_the_other_slot_runs():
    r = rig()
    r.run(DAY_MS)  # step 0 saved: the trial store holds two records
    names = sorted(n for n in r.storage.blobs if n.startswith("trial."))
    assert names == ["trial.a", "trial.b"]
    blob = r.storage.blobs["trial.b"]
    blob[len(blob) // 2] ^= 0x10
    r.boot()
    assert (ev.STORE_CORRUPT, 1, ev.STORE_TRIAL) in r.events()
    assert r.pump.alarms.is_active(A_STORE_CORRUPT)
    assert r.pump.screening.trial is not None and r.pump.screening.step in (-1, 0)  # the older record, whole
    r.run(DAY_MS)
    assert r.pump.screening.step == 0 and dose_ug(r) == 100  # never more than one step further a day
