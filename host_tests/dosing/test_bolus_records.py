"""Bolus records: BOLUS_DONE and BOLUS_CANCELLED carry the drug the bolus delivered (whole ng, from the dose plan's
own pacing), and every kind of bolus logs the number pump.events gives it (1 patient, 2 clinician, 3 periodic).
"""

from pump import events as ev
from pump.compat import ticks_add
from pump.doseplan import KIND_CLINICIAN, KIND_PATIENT, KIND_PERIODIC, DosePlan
from pump.reservoir import STATE_EMPTY
from support.plan import HOUR_MS, MONDAY_S, PRIME_NL_PER_DAY, START, drive
from support.rig import PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


_NL = 200
_CONC = 10000  # ug/mL
_NG_PER_STEP = _NL * _CONC // 1000  # 2000 ng of drug in one step


def _bolus_only_plan():
    """A plan with drug in the reservoir and no basal: every step it times is the bolus's."""
    plan = DosePlan(_NL, PRIME_NL_PER_DAY, MONDAY_S, START)
    plan.refill(START, _CONC, 0)
    return plan


def test_the_dose_plan_numbers_its_kinds_as_the_event_log():
    assert (KIND_PATIENT, KIND_CLINICIAN, KIND_PERIODIC) == (ev.BOLUS_PATIENT, ev.BOLUS_CLINICIAN, ev.BOLUS_PERIODIC)
    assert (ev.BOLUS_PATIENT, ev.BOLUS_CLINICIAN, ev.BOLUS_PERIODIC) == (1, 2, 3)  # on the wire and in stored logs


def test_a_bolus_cancelled_part_way_records_what_its_steps_delivered():
    dose_ng, duration_ms = 200000, 10 * 60000  # 200 ug = 100 steps over 10 min
    for cancel_ms in (1, 5999, 108000, 123457, 300000, 599999):
        plan = _bolus_only_plan()
        cancelled = []

        def cancel(now, t, plan=plan, cancelled=cancelled):
            cancelled.extend(plan.suspend(now))

        def start(now, t, plan=plan):
            assert plan.start_bolus(now, KIND_CLINICIAN, dose_ng, duration_ms)

        steps = drive(plan, duration_ms + HOUR_MS, [(0, start), (cancel_ms, cancel)])
        assert len(cancelled) == 1 and plan.finished == []
        b = cancelled[0]
        # the plan's pacing: dose x elapsed / duration, rounded down to whole ng
        assert b.delivered_ng == dose_ng * cancel_ms // duration_ms, cancel_ms
        # ... and what the steps it timed moved, within one step's worth of drug
        moved_ng = len(steps) * _NG_PER_STEP
        assert abs(b.delivered_ng - moved_ng) <= _NG_PER_STEP, (cancel_ms, b.delivered_ng, moved_ng)
    assert b.delivered_ng < dose_ng


def test_a_completed_bolus_records_its_whole_dose():
    plan = _bolus_only_plan()
    assert plan.start_bolus(START, KIND_PATIENT, 100003, 7 * 60000)
    steps = drive(plan, HOUR_MS)
    assert [(b.kind, b.dose_ng, b.delivered_ng) for b in plan.finished] == [(KIND_PATIENT, 100003, 100003)]
    assert len(steps) == 100003 // _NG_PER_STEP  # 50 whole steps; the 3 ng left are the step phase's


def test_a_bolus_cancelled_at_its_start_or_end_records_nothing_or_all():
    plan = _bolus_only_plan()
    plan.start_bolus(START, KIND_CLINICIAN, 50000, 60000)
    assert [b.delivered_ng for b in plan.suspend(START)] == [0]
    plan.start_bolus(START, KIND_CLINICIAN, 50000, 60000)
    assert [b.delivered_ng for b in plan.suspend(ticks_add(START, 60000))] == [50000]  # its end not yet processed


def _bolus_events(rig):
    keep = (ev.BOLUS_GRANTED, ev.BOLUS_DONE, ev.BOLUS_CANCELLED)
    return [e for e in rig.events() if e[0] in keep]


def test_the_controller_logs_a_cancelled_bolus_with_the_drug_it_delivered():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.pump.clinician_bolus(200, 10, now=rig.now)
    rig.run(108000)  # 36 ug of the 200 ug
    rig.pump.suspend(now=rig.now)
    assert _bolus_events(rig) == [
        (ev.BOLUS_GRANTED, 200000, ev.BOLUS_CLINICIAN),
        (ev.BOLUS_CANCELLED, 36000, ev.BOLUS_CLINICIAN),
    ]


def test_a_new_program_cancels_a_patient_bolus_with_what_it_delivered():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    rig.pump.patient_bolus(now=rig.now)
    rig.run(6 * 60000 + 1)  # 100 ug over 10 min: 60.0001 % of it
    rig.pump.program(rx(5000, patient_bolus=PB), now=rig.now)
    assert _bolus_events(rig)[-1] == (ev.BOLUS_CANCELLED, 60000, ev.BOLUS_PATIENT)


def test_each_kind_of_bolus_logs_its_documented_number():
    periodic = [{"start": "09:00", "dose_ug": 50, "duration_min": 30}]
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB, periodic_boluses=periodic))  # from 08:00
    rig.pump.patient_bolus(now=rig.now)
    rig.pump.clinician_bolus(150, 20, now=rig.now)
    rig.run(2 * HOUR_MS)
    assert sorted(_bolus_events(rig)) == sorted([
        (ev.BOLUS_GRANTED, 100000, ev.BOLUS_PATIENT),
        (ev.BOLUS_GRANTED, 150000, ev.BOLUS_CLINICIAN),
        (ev.BOLUS_DONE, 100000, ev.BOLUS_PATIENT),
        (ev.BOLUS_DONE, 150000, ev.BOLUS_CLINICIAN),
        (ev.BOLUS_DONE, 50000, ev.BOLUS_PERIODIC),
    ])


def test_a_bolus_running_when_the_reservoir_turns_empty_is_cancelled_with_what_it_delivered():
    # nothing moves once the reservoir counts as empty (min_rate_at_empty_nl_per_day 0): the bolus cannot finish, and
    # its record must not say it did
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    pump.reservoir.restore(pump.reservoir.empty_nl + 10000)  # 10 uL above empty: half of a 200 ug bolus
    pump.clinician_bolus(200, 10, now=rig.now)
    rig.run(HOUR_MS)
    assert pump.reservoir.state == STATE_EMPTY and pump.plan.boluses == []
    records = _bolus_events(rig)
    assert [(code, kind) for code, _a, kind in records] == [
        (ev.BOLUS_GRANTED, ev.BOLUS_CLINICIAN), (ev.BOLUS_CANCELLED, ev.BOLUS_CLINICIAN)]
    moved_ng = len(rig.step_times) * _NG_PER_STEP  # basal and bolus: the bolus moved at most this
    assert 80000 <= records[1][1] <= moved_ng < 200000 // 2 + 20000  # about 10 uL moved in all, not the dose


def test_no_periodic_bolus_starts_from_an_empty_reservoir():
    periodic = [{"start": "09:00", "dose_ug": 50, "duration_min": 30}]
    rig = Rig(fill_ul=20000, prescription=rx(4000, periodic_boluses=periodic))  # from 08:00
    pump = rig.pump
    pump.reservoir.restore(pump.reservoir.empty_nl - 1000)
    pump._apply_cap(rig.now)
    rig.run(3 * HOUR_MS)
    assert rig.step_times == [] and _bolus_events(rig) == []
