"""Pump controller on the simulated board: commands whole or not at all, refusals logged with their code, reservoir
states, checkpoints, resets without catch-up, and every step checked against the exact integral of the program.
The rig is support/rig.py's.
"""

import struct

from board.sim.hydraulics import Hydraulics
from support.flash import FakeStorage
from pump import events as ev
from pump.calendar import WALL_MAX_S
from pump.checkpoint import FLAG_CLOCK_SET, FLAG_SUSPENDED, Counters, pack, unpack
from pump.compat import ticks_diff
from pump.config import PumpConfig
from pump.doseplan import KIND_PATIENT, KIND_PERIODIC
from pump.errors import (
    E_CONC_MISMATCH,
    E_CORRUPT,
    E_DAILY_MAX,
    E_HARD_LIMIT,
    E_LOCKOUT,
    E_MALFORMED,
    E_NO_BOLUS,
    E_RANGE,
    E_RESERVOIR,
    E_SCHEDULE,
    E_SOFT_LIMIT,
    E_STATE,
    E_STORAGE,
    E_UNKNOWN_DRUG,
    PumpError,
)
from pump.limits import usage_nl_per_day
from pump.reservoir import STATE_EMPTY, STATE_OK
from pump.therapy import MODE_CONSTANT, MODE_STOPPED
from support import raises
from support.plan import DAY_MS, HOUR_MS, Ideal, bolus_rate, check_steps, dose_rate, frac_add
from support.rig import MONDAY_S, PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


class OsErrorStorage(FakeStorage):
    """Storage whose writes of blobs starting with `fail_prefix` raise OSError (a flash failure, not a power cut)."""

    def __init__(self):
        super().__init__()
        self.fail_prefix = None

    def write(self, name, data):
        if self.fail_prefix is not None and name.startswith(self.fail_prefix):
            raise OSError(5)
        super().write(name, data)


# ---- programming ----


def test_program_refusal_changes_nothing_and_is_logged():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    rig.run(HOUR_MS)
    old = pump.therapy
    rate = (pump.plan.rate_num, pump.plan.rate_den)
    deadline = pump.plan.next_deadline()
    stored = rig.blobs("prog", "state")
    bad = (
        (rx(25000), E_HARD_LIMIT),
        (rx(16000), E_SOFT_LIMIT),
        (rx(4000, conc=5000), E_CONC_MISMATCH),
        (rx(4000, drug="heroin"), E_UNKNOWN_DRUG),
        ({"drug": {"name": "morphine", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "constant"}},
         E_MALFORMED),
        (rx(4000, patient_bolus={"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 99}), E_RANGE),
        (
            {
                "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
                "therapy": {"mode": "flex", "steps": [{"start": "08:00", "dose_ug_per_day": 4000}]},
            },
            E_SCHEDULE,
        ),
    )
    for doc, code in bad:
        with raises(PumpError) as e:
            pump.program(doc, now=rig.now)
        assert e.value.code == code, (code, e.value)
        assert pump.therapy is old
        assert (pump.plan.rate_num, pump.plan.rate_den) == rate
        assert pump.plan.next_deadline() == deadline
        assert rig.blobs("prog", "state") == stored
        assert rig.events()[-1] == (ev.PROGRAM_REJECTED, code, 0)
    # delivery went on as programmed: one hour at 0.4 mL/day = 83.3 steps
    rig.run(HOUR_MS)
    assert len(rig.step_times) == 166


def test_program_storage_failure_changes_nothing():
    storage = OsErrorStorage()
    rig = Rig(storage=storage, fill_ul=20000, prescription=rx(4000))
    old = rig.pump.therapy
    storage.fail_prefix = "prog"
    with raises(PumpError) as e:
        rig.pump.program(rx(6000), now=rig.now)
    assert e.value.code == E_STORAGE
    assert rig.pump.therapy is old
    assert rig.pump.plan.rate_num * 1 == 400000 * rig.pump.plan.rate_den
    storage.fail_prefix = None
    rig.boot()
    assert rig.pump.therapy == old


def test_program_accepted_is_stored_and_survives_a_reset():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.pump.program(rx(16000), confirm_soft=True, now=rig.now)  # a soft limit, confirmed
    assert rig.pump.therapy.soft_confirmed
    assert rig.events()[-1] == (ev.PROGRAM, MODE_CONSTANT, 0)
    therapy = rig.pump.therapy
    rig.boot()
    assert rig.pump.therapy == therapy
    assert rig.pump.plan.rate_num == 1600000 * rig.pump.plan.rate_den


def test_program_before_any_fill_delivers_nothing():
    rig = Rig(prescription=rx(4000))
    assert rig.pump.reservoir.state == STATE_EMPTY
    rig.run(DAY_MS)
    assert rig.step_times == []


# ---- exact delivery through the controller ----


def test_delivery_with_bolus_suspend_and_resume_is_exact():
    rig = Rig(fill_ul=20000, prescription=rx(12000, patient_bolus=PB))
    pump = rig.pump
    basal = dose_rate(12000000, 10000)
    ideal = Ideal(200, basal)
    rig.run(1234567)
    pump.patient_bolus(now=rig.now)
    t_b = rig.clock.t_ms
    ideal.rate(t_b, frac_add(basal, bolus_rate(100000, 600000, 10000)))
    ideal.rate(t_b + 600000, basal)
    rig.run(HOUR_MS)
    pump.suspend(now=rig.now)
    t_s = rig.clock.t_ms
    ideal.rate(t_s, (0, 1))
    rig.run(2 * HOUR_MS + 777)
    pump.resume(now=rig.now)
    t_r = rig.clock.t_ms
    ideal.rate(t_r, basal)
    rig.run(HOUR_MS)
    check_steps(rig.step_times, ideal, rig.clock.t_ms)
    assert rig.steps_in(t_s, t_r) == 0
    assert rig.plant.steps_forward == len(rig.step_times)
    assert [e for e in rig.events() if e[0] in (ev.BOLUS_GRANTED, ev.BOLUS_DONE, ev.SUSPEND, ev.RESUME)] == [
        (ev.BOLUS_GRANTED, 100000, ev.BOLUS_PATIENT),
        (ev.BOLUS_DONE, 100000, ev.BOLUS_PATIENT),
        (ev.SUSPEND, 0, 0),
        (ev.RESUME, 0, 0),
    ]


def test_suspend_cancels_boluses_and_persists():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    pump.clinician_bolus(100, 30, now=rig.now)
    rig.run(60000)
    pump.suspend(now=rig.now)
    pump.suspend(now=rig.now)  # again: nothing new
    evs = rig.events()
    assert evs[-2:] == [(ev.BOLUS_CANCELLED, 3333, ev.BOLUS_CLINICIAN), (ev.SUSPEND, 0, 0)]  # 1 of its 30 min
    assert pump.state_name == "suspended"
    n = len(rig.step_times)
    rig.boot()  # a reset keeps the pump suspended
    assert rig.pump.suspended and rig.pump.state_name == "suspended"
    rig.run(DAY_MS)
    assert len(rig.step_times) == n
    rig.pump.resume(now=rig.now)
    rig.pump.resume(now=rig.now)
    assert [e[0] for e in rig.events()].count(ev.RESUME) == 1
    rig.run(DAY_MS)
    assert len(rig.step_times) - n in (1999, 2000)  # 0.4 mL/day of 200 nL steps


def test_reset_restarts_without_catch_up():
    rig = Rig(fill_ul=20000, prescription=rx(13824))  # 1.3824 mL/day: exactly 12.5 s per step
    rig.run(HOUR_MS + 6000)  # half a step owed
    rig.pump.checkpoint(rig.now)
    n = len(rig.step_times)
    remaining = rig.pump.reservoir.remaining_nl
    t = rig.clock.t_ms
    rig.boot()
    assert rig.pump.reservoir.remaining_nl == remaining
    # the first step after the reset comes a whole interval later, then one per interval: no catch-up
    assert ticks_diff(rig.pump.plan.next_deadline(), rig.now) == 12500
    rig.run(HOUR_MS)
    assert [x - t for x in rig.step_times[n : n + 3]] == [12500, 25000, 37500]
    assert len(rig.step_times) - n == 3600000 // 12500


# ---- refill ----


def test_refill_with_new_concentration_bridges_and_revalidates():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    rig.run(HOUR_MS)
    pump.refill(30000, 20000, now=rig.now)
    t_r = rig.clock.t_ms
    assert pump.therapy.conc_ug_per_ml == 20000
    assert pump.plan.conc_ug_per_ml == 20000
    assert pump.plan.catheter.old_nl == 150000
    assert pump.plan.rate_num == 400000 * pump.plan.rate_den  # old drug in the catheter: old strength
    assert rig.events()[-1] == (ev.REFILL, 30000, 20000)
    assert pump.reservoir.remaining_nl == 30000000
    rig.run(3 * DAY_MS)
    # 150 uL of the old drug: 750 steps at 0.4 mL/day (9 h), then 0.2 mL/day
    bridge_end = rig.step_times[len([t for t in rig.step_times if t <= t_r]) + 749]
    assert pump.plan.catheter.old_nl == 0
    assert pump.plan.rate_num == 200000 * pump.plan.rate_den
    ideal = Ideal(200, dose_rate(4000000, 10000))
    ideal.rate(bridge_end, dose_rate(4000000, 20000))
    check_steps(rig.step_times, ideal, rig.clock.t_ms)
    rig.boot()
    assert rig.pump.therapy.conc_ug_per_ml == 20000
    assert rig.pump.plan.conc_ug_per_ml == 20000


def test_refill_refused_when_the_program_breaks_at_the_new_concentration():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    before = (pump.therapy, pump.reservoir.remaining_nl, pump.plan.conc_ug_per_ml)
    for conc, code in ((31000, E_HARD_LIMIT), (0, E_RANGE)):
        with raises(PumpError) as e:
            pump.refill(10000, conc, now=rig.now)
        assert e.value.code == code
        assert (pump.therapy, pump.reservoir.remaining_nl, pump.plan.conc_ug_per_ml) == before


def test_refill_checks_volume_and_first_concentration():
    rig = Rig()
    for args, code in (((1000,), E_RANGE), ((0, 10000), E_RANGE), ((40001, 10000), E_RANGE),
                       (("5", 10000), E_MALFORMED)):
        with raises(PumpError) as e:
            rig.pump.refill(*args, now=rig.now)
        assert e.value.code == code
    rig.pump.refill(40000, 10000, now=rig.now)
    assert rig.pump.reservoir.state == STATE_OK


def test_a_reset_during_a_bridge_loses_none_of_its_progress():
    # soak, seed 1, 10 years: resets between checkpoints each gave the bridge back the steps moved since the last one,
    # so it pushed the stronger new drug at the old drug's volume rate 4 steps too long (2 steps over the program)
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS)
    rig.pump.refill(30000, 20000, now=rig.now)
    n0 = len(rig.step_times)
    for minutes in (7, 11, 3, 13, 5, 14, 9) * 12:  # a reset every few minutes, between two 15-min checkpoints
        rig.run(minutes * 60000 + 17)
        rig.boot()
        moved = len(rig.step_times) - n0
        assert rig.pump.plan.catheter.old_nl == max(0, 150000 - 200 * moved), moved
        if not rig.pump.plan.catheter.old_nl:
            break
    # 150 uL of the old drug is 750 steps: then the new strength's rate, 0.2 mL/day instead of 0.4
    assert len(rig.step_times) - n0 >= 750 and rig.pump.plan.rate_num == 200000 * rig.pump.plan.rate_den


def test_steps_a_safety_check_refuses_leave_the_bridge_as_it_was():
    rig = Rig()
    Hydraulics(rig.clock).attach(rig.plant)  # a line and its pressure sensor
    pump = rig.boot()
    pump.refill(20000, 20000)
    rig.plant.refill(20000)
    pump.program(rx(4000, conc=20000))
    rig.run(HOUR_MS)
    pump.refill(30000, 10000, now=rig.now)  # a weaker drug: the stronger one in the catheter goes at its own rate
    n0 = len(rig.step_times)
    rig.run(HOUR_MS)
    rig.hw.pressure.set_fault("open")
    rig.run(HOUR_MS)
    assert pump.safety.holding  # the burst at the second open reading was taken from the plan, not moved
    moved = len(rig.step_times) - n0
    assert pump.plan.catheter.old_nl == 150000 - 200 * moved, moved  # else the bridge ends early: over-delivery


def test_a_refill_with_a_new_strength_cancels_the_boluses_in_progress_and_says_so():
    # the refill re-validates the program at the new strength, which ends the boluses in progress: each is logged as
    # cancelled and hands its over-delivery allowance back (they were dropped silently and their steps stayed
    # granted); found by the soak once its programs had periodic boluses
    periodic = [{"start": "09:00", "dose_ug": 50, "duration_min": 240}]
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB, periodic_boluses=periodic))  # 08:00
    pump = rig.pump
    rig.run(HOUR_MS + 60000)  # 09:01: the periodic bolus runs
    pump.patient_bolus(now=rig.now)
    assert sorted(b.kind for b in pump.plan.boluses) == [KIND_PATIENT, KIND_PERIODIC]
    pump.refill(30000, 20000, now=rig.now)
    assert pump.plan.boluses == []
    cancelled = [e for e in rig.events() if e[0] == ev.BOLUS_CANCELLED]
    assert sorted(e[2] for e in cancelled) == [KIND_PATIENT, KIND_PERIODIC]
    for window in (pump.safety.hour_window, pump.safety.day_window):
        assert window.pending == 0


def test_a_bolus_during_a_bridge_is_allowed_the_old_drugs_steps():
    # soak, seed 1: a patient bolus granted at the new, stronger drug's volume moved the bridge's old drug (twice the
    # steps, as it should) and the over-delivery monitor held dosing
    for minutes_before_the_end in (300, 5):  # well inside the bridge; across its end
        rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
        pump = rig.pump
        rig.run(HOUR_MS)
        pump.refill(30000, 20000, now=rig.now)
        n0 = len(rig.step_times)
        rig.run(750 * 43200 - minutes_before_the_end * 60000)  # 750 steps of 43.2 s: the bridge at 0.4 mL/day
        assert pump.plan.catheter.old_nl
        pump.patient_bolus(rig.now)
        rig.run(6 * HOUR_MS)
        assert not pump.safety.holding and not pump.plan.catheter.old_nl
        assert len(rig.step_times) - n0 > 750 + 25  # the bolus moved more steps than the new drug's 25
        for window in (pump.safety.hour_window, pump.safety.day_window):
            assert window.pending == 0  # the steps granted, handed back

def test_low_and_empty_then_refill_resets():
    # 15 mL/day; 3.6 mL in: low (3 mL left) after 3000 steps, empty (0.5 mL left) after 15500 steps
    rig = Rig(fill_ul=3600, prescription=rx(15000, conc=1000))
    pump = rig.pump
    rig.run(6 * HOUR_MS)
    assert len(rig.step_times) == 15500
    assert pump.reservoir.state == STATE_EMPTY
    assert [e for e in rig.events() if e[0] in (ev.LOW_RESERVOIR, ev.EMPTY_RESERVOIR)] == [
        (ev.LOW_RESERVOIR, 3000, 0),
        (ev.EMPTY_RESERVOIR, 500, 0),
    ]
    assert pump.plan.cap_nl_per_day == 0 and not pump.plan.timer.running
    rig.run(DAY_MS)
    assert len(rig.step_times) == 15500  # delivery stopped
    with raises(PumpError) as e:
        pump.clinician_bolus(100, 10, now=rig.now)
    assert e.value.code == E_RESERVOIR
    pump.refill(20000, now=rig.now)
    assert pump.reservoir.state == STATE_OK
    assert pump.plan.cap_nl_per_day == -1
    rig.run(HOUR_MS)
    assert len(rig.step_times) - 15500 in (3124, 3125)  # 15 mL/day again


def test_min_rate_at_empty_keeps_delivering_at_that_rate():
    rig = Rig({"min_rate_at_empty_nl_per_day": 1000000}, fill_ul=3600, prescription=rx(15000, conc=1000))
    pump = rig.pump
    rig.run(6 * HOUR_MS)
    assert pump.reservoir.state == STATE_EMPTY
    assert pump.plan.rate_num == 1000000 * pump.plan.rate_den
    n = len(rig.step_times)
    rig.run(DAY_MS)
    assert len(rig.step_times) - n in (4999, 5000, 5001)  # 1 mL/day
    # a program below the minimum rate keeps its own rate
    pump.program(rx(500, conc=1000), now=rig.now)
    assert pump.plan.rate_num == 500000 * pump.plan.rate_den


def test_projected_days():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    # worst case a day: 4 mg basal + 4 x 100 ug = 440 uL; 17 mL above low, 19.5 mL above empty
    assert usage_nl_per_day(rig.pump.therapy) == 440000
    s = rig.pump.state(rig.now)
    assert (s.low_days, s.empty_days) == (38, 44)
    rig.pump.stop(now=rig.now)
    s = rig.pump.state(rig.now)
    assert (s.low_days, s.empty_days) == (None, None)


# ---- boluses ----


def test_patient_bolus_refusals_are_logged_with_their_reason():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump

    def refused(code):
        with raises(PumpError) as e:
            pump.patient_bolus(now=rig.now)
        assert e.value.code == code
        assert rig.events()[-1] == (ev.BOLUS_REFUSED, code, ev.BOLUS_PATIENT)

    pump.patient_bolus(now=rig.now)
    assert rig.events()[-1] == (ev.BOLUS_GRANTED, 100000, ev.BOLUS_PATIENT)
    refused(E_LOCKOUT)
    rig.run(2 * HOUR_MS - 1000)
    refused(E_LOCKOUT)
    rig.boot()  # the grant survives a reset
    pump = rig.pump
    refused(E_LOCKOUT)
    rig.run(1000)
    pump.patient_bolus(now=rig.now)
    for _ in range(2):
        rig.run(2 * HOUR_MS)
        pump.patient_bolus(now=rig.now)
    rig.run(2 * HOUR_MS)
    refused(E_DAILY_MAX)  # 4 in the last 24 h
    pump.suspend(now=rig.now)
    refused(E_STATE)
    pump.resume(now=rig.now)
    pump.program(rx(4000), now=rig.now)  # no patient bolus in this program
    refused(E_NO_BOLUS)
    granted = [e for e in rig.events() if e[0] == ev.BOLUS_GRANTED]
    assert len(granted) == 4


def test_patient_bolus_refused_when_empty_or_too_many():
    pb = {"dose_ug": 100, "duration_min": 60, "lockout_min": 0, "max_per_day": 10}
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=pb))
    pump = rig.pump
    for _ in range(3):
        pump.patient_bolus(now=rig.now)
    with raises(PumpError) as e:
        pump.patient_bolus(now=rig.now)
    assert e.value.code == E_STATE  # three boluses already running
    assert rig.events()[-1] == (ev.BOLUS_REFUSED, E_STATE, ev.BOLUS_PATIENT)
    assert len(pump.policy.grants_mono_s) == 3
    pump.reservoir.restore(400000)
    pump._apply_cap(rig.now)
    rig.run(HOUR_MS)
    with raises(PumpError) as e:
        pump.patient_bolus(now=rig.now)
    assert e.value.code == E_RESERVOIR


def test_clinician_bolus_limits():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    for args, code in (
        ((1001, 30), E_HARD_LIMIT),
        ((5, 30), E_HARD_LIMIT),
        ((600, 300), E_SOFT_LIMIT),
        ((100, 0), E_RANGE),
        ((100, 1441), E_RANGE),
        ((-1, 30), E_RANGE),
        ((100, 1.5), E_MALFORMED),
    ):
        with raises(PumpError) as e:
            pump.clinician_bolus(args[0], args[1], now=rig.now)
        assert e.value.code == code, (args, e.value)
    assert pump.plan.boluses == []
    pump.clinician_bolus(600, 300, confirm_soft=True, now=rig.now)
    assert rig.events()[-1] == (ev.BOLUS_GRANTED, 600000, ev.BOLUS_CLINICIAN)
    rig.run(300 * 60000)
    # 0.4 mL/day for 5 h plus 60 uL: (83333 + 60000) nL of 200 nL steps
    assert len(rig.step_times) == (400000 * 5 // 24 + 60000) // 200
    assert rig.events()[-1] == (ev.BOLUS_DONE, 600000, ev.BOLUS_CLINICIAN)
    pump.suspend(now=rig.now)
    with raises(PumpError) as e:
        pump.clinician_bolus(100, 30, now=rig.now)
    assert e.value.code == E_STATE


def test_clinician_bolus_above_the_highest_rate_is_refused():
    # a clinician bolus obeys the volume-rate limits of a programmed one: 500 ug over 1 min at 10 mg/mL would be
    # 72 mL/day, above the pump's 50 mL/day
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    with raises(PumpError) as e:
        rig.pump.clinician_bolus(500, 1, now=rig.now)
    assert e.value.code == E_RANGE


# ---- stop, clock, prime ----


def test_stop_stores_a_stopped_program():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    rig.run(HOUR_MS)
    pump.stop(now=rig.now)
    assert pump.therapy.mode == MODE_STOPPED and pump.state_name == "stopped"
    assert [e[0] for e in rig.events()[-2:]] == [ev.PROGRAM, ev.STOP]
    n = len(rig.step_times)
    rig.run(DAY_MS)
    assert len(rig.step_times) == n
    with raises(PumpError) as e:
        pump.patient_bolus(now=rig.now)
    assert e.value.code == E_STATE
    rig.boot()
    assert rig.pump.therapy.mode == MODE_STOPPED
    rig.pump.program(rx(4000), now=rig.now)
    rig.run(DAY_MS)
    assert len(rig.step_times) - n in (1999, 2000)


def test_set_clock():
    daily = [{"start": "00:00", "dose_ug_per_day": 4000}, {"start": "12:00", "dose_ug_per_day": 8000}]
    doc = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "flex", "steps": daily}}
    rig = Rig(fill_ul=20000, prescription=doc)  # 08:00
    pump = rig.pump
    assert pump.plan.rate_num == 400000 * pump.plan.rate_den
    pump.set_clock(MONDAY_S + 13 * 3600, now=rig.now)  # 5 h forward
    # for a day the schedule is the least of the old one (at 08:00) and the new one (at 13:00): pump.phases
    assert pump.plan.rate_num == 400000 * pump.plan.rate_den
    assert rig.events()[-1] == (ev.CLOCK_SET, 5 * 3600, 2)  # two schedule phases in force
    assert rig.rtc.now_ms() == (MONDAY_S + 13 * 3600) * 1000
    c = unpack(pump._state_store.load())
    assert c.wall_s == MONDAY_S + 13 * 3600 and not c.flags & FLAG_CLOCK_SET
    assert c.phase_shift_ms == [7 * DAY_MS - 5 * HOUR_MS]
    for bad, code in ((-1, E_RANGE), ("x", E_MALFORMED), (1.5, E_MALFORMED)):
        with raises(PumpError) as e:
            pump.set_clock(bad, now=rig.now)
        assert e.value.code == code
    rig.run(4 * HOUR_MS)  # 17:00: the old schedule reaches its 12:00 step too
    assert pump.plan.rate_num == 800000 * pump.plan.rate_den
    rig.run(DAY_MS - 4 * HOUR_MS)  # a day after the correction: the new clock alone (13:00: its 12:00 step)
    assert pump.plan.phases.shift_ms == [] and pump.plan.rate_num == 800000 * pump.plan.rate_den
    rig.run(11 * HOUR_MS)  # 00:00 by the new clock
    assert pump.plan.rate_num == 400000 * pump.plan.rate_den
    rig.run(500)
    writes = pump._state_store.writes
    pump.set_clock(pump.wall_s(rig.now), now=rig.now)  # the second it reads (and 500 ms): nothing to phase in
    assert pump.plan.phases.shift_ms == [] and rig.events()[-1] == (ev.CLOCK_SET, 0, 1)
    assert pump.plan.cal.wall_ms_at(rig.now) % 1000 == 500 and pump._state_store.writes == writes + 1


def test_prime_only_when_not_running():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    with raises(PumpError) as e:
        pump.prime(now=rig.now)
    assert e.value.code == E_STATE
    pump.suspend(now=rig.now)
    for bad, code in ((0, E_RANGE), (5001, E_RANGE), ("1", E_MALFORMED)):
        with raises(PumpError) as e:
            pump.prime(bad, now=rig.now)
        assert e.value.code == code
    n = len(rig.step_times)
    pump.prime(now=rig.now)  # the catheter volume, 150 uL: 750 steps at 25 uL/min (480 ms per step)
    assert pump.state_name == "priming"
    assert rig.events()[-1] == (ev.PRIME, 150000, 0)
    rig.run(HOUR_MS)
    assert len(rig.step_times) - n == 750
    assert rig.step_times[-1] - rig.step_times[n] == 749 * 480
    assert pump.state_name == "suspended"
    assert pump.reservoir.remaining_nl == 20000000 - 150000 - n * 200


def test_prime_refused_when_it_would_empty_the_reservoir():
    rig = Rig(fill_ul=1000, prescription=rx(4000))
    rig.pump.suspend(now=rig.now)
    with raises(PumpError) as e:
        rig.pump.prime(600, now=rig.now)  # 400 uL would be left, below the 500 uL empty level
    assert e.value.code == E_RESERVOIR
    assert rig.pump.plan.prime_nl_left == 0


# ---- counters and checkpoints ----


def test_checkpoint_writes_are_bounded():
    # 15 mL/day (75000 steps a day) with the default 900 s cadence: at most 96 periodic checkpoints a day, plus one
    # at midnight; none while nothing changes
    rig = Rig(fill_ul=40000, prescription=rx(15000, conc=1000))
    rig.pump._step = rig.hw.stepper.step_forward  # the plant counts the steps (a list of 75000 times needs 1 MB)
    store = rig.pump._state_store
    writes = store.writes
    appends = rig.storage.appends
    rig.run(DAY_MS)
    assert rig.plant.steps_forward > 74000
    assert 90 <= store.writes - writes <= 86400 // 900 + 1
    assert rig.storage.appends == appends  # no event in steady state
    rig.pump.suspend(now=rig.now)
    writes = store.writes
    rig.run(DAY_MS)
    assert store.writes - writes <= 2  # suspended: the new day only


def test_checkpoint_cadence_follows_the_config():
    rig = Rig({"checkpoint_interval_s": 3600}, fill_ul=40000, prescription=rx(15000, conc=1000))
    store = rig.pump._state_store
    writes = store.writes
    rig.run(DAY_MS)
    assert 22 <= store.writes - writes <= 24 + 1


def test_counters_and_delivered_today_reset_at_midnight():
    rig = Rig(fill_ul=20000, prescription=rx(12000), wall_s=MONDAY_S + 20 * 3600)  # 14.4 s per step
    pump = rig.pump
    rig.run(4 * HOUR_MS - 1)  # to 23:59:59.999
    assert pump.c.delivered_today_nl == len(rig.step_times) * 200
    rig.run(HOUR_MS + 1)  # to 01:00
    n1 = rig.steps_in(-1, 4 * HOUR_MS)  # the step due at midnight itself still belongs to the old day
    n2 = len(rig.step_times)
    assert n1 == 1000 and n2 == 1250
    assert pump.c.delivered_today_nl == (n2 - n1) * 200
    assert pump.c.total_ul * 1000 + pump.c.total_nl_rem == n2 * 200
    assert pump.reservoir.remaining_nl == 20000000 - n2 * 200
    assert pump.steps == n2
    pump.checkpoint(rig.now)
    c = unpack(pump._state_store.load())
    assert (c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem) == (
        MONDAY_S // 86400 + 1, (n2 - n1) * 200, n2 * 200 // 1000, n2 * 200 % 1000)


def test_delivered_today_counts_steps_after_midnight_in_a_late_wake():
    # one wake that spans midnight (woken late, or working off a backlog): the steps due after midnight count for
    # the new day, not for the old one (which is closed first)
    def rig():
        return Rig(fill_ul=20000, prescription=rx(12000, conc=1000), wall_s=MONDAY_S + 23 * 3600)  # 1.44 s per step

    exact = rig()
    exact.run(HOUR_MS + 10000)  # event-driven to 00:00:10
    today = exact.steps_in(HOUR_MS, HOUR_MS + 10000)
    assert today == 6 and exact.pump.c.delivered_today_nl == today * 200
    late = rig()
    late.run(HOUR_MS - 5000)  # 23:59:55
    late.clock.t_ms += 15000  # the next wake comes at 00:00:10: one batch of 10 steps spans midnight
    late.pump.tick(late.now)
    assert len(late.step_times) == len(exact.step_times)
    assert late.pump.c.delivered_today_nl == today * 200


def test_restore_of_a_corrupt_state_logs_it():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    for name in list(rig.storage.blobs):
        if name.startswith("state"):
            rig.storage.corrupt(name, 12)
    rig.boot()
    assert (ev.STORE_CORRUPT, 2, ev.STORE_STATE) in rig.events()
    assert rig.pump.reservoir.state == STATE_EMPTY  # nothing trusted: empty until a refill


# ---- checkpoint record and config ----


def _counters_at_edges():
    c = Counters()
    c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day = WALL_MAX_S, FLAG_SUSPENDED, 100000000, -0x80000000, 36524
    c.delivered_today_nl, c.total_ul, c.total_nl_rem, c.conc_ug_per_ml = 0x3FFFFFFF, 0x3FFFFFFF, 999, 0x3FFFFFFF
    c.catheter = [(5000000, 1), (1, 0x3FFFFFFF), (2, 3)]
    c.latched, c.occ_base_kpa_x10, c.occ_jump_x256, c.prog_seq = 1 << 16, 0xFFFF, 262143, 0xFFFFFFFF
    c.mono_s, c.mono_ms, c.wall_rem_ms = 0x3FFFFFFF, 999, 999
    c.grants_mono_s = [MONDAY_S + i for i in range(60)]
    return c


_FIELDS = ("wall_s", "flags", "fill_nl", "remaining_nl", "day", "delivered_today_nl", "total_ul", "total_nl_rem",
           "conc_ug_per_ml", "catheter", "latched", "occ_base_kpa_x10", "occ_jump_x256",
           "prog_seq")


def test_checkpoint_record_round_trip():
    c = _counters_at_edges()
    d = unpack(pack(c))
    for key in _FIELDS:
        assert getattr(d, key) == getattr(c, key), key
    assert d.grants_mono_s == c.grants_mono_s[-48:]
    raw = pack(c)
    for bad in (raw[:10], raw[:-1], raw + b"\0\0\0\0"):
        with raises(PumpError) as e:
            unpack(bad)
        assert e.value.code == E_CORRUPT


def test_a_checkpoint_field_out_of_its_range_is_refused_naming_it():
    # each field one past its range (the type would hold it): the record is refused, so the store tries its other
    # slot and the boot never runs on it
    for key, value in (("wall_s", WALL_MAX_S + 1), ("flags", 16), ("fill_nl", 100000001), ("day", 36525),
                       ("delivered_today_nl", 0x40000000), ("delivered_today_nl", -1), ("total_ul", 0x40000000),
                       ("total_nl_rem", 1000), ("conc_ug_per_ml", 0x40000000),
                       ("catheter", [(5000001, 1)]), ("catheter", [(-1, 1)]), ("latched", 1 << 19), ("fill_nl", -1),
                       ("mono_s", 0x40000000), ("mono_ms", 1000), ("wall_rem_ms", 1000)):
        c = _counters_at_edges()
        setattr(c, key, value)
        with raises(PumpError) as e:
            unpack(pack(c))
        name = "catheter_nl" if key == "catheter" else key
        assert e.value.code == E_CORRUPT and e.value.detail.startswith("checkpoint.%s: " % name), (key, e.value.detail)
    c = _counters_at_edges()
    c.remaining_nl = c.fill_nl + 1  # more left than was filled
    c.catheter = [(10, 0)]  # an old drug of no strength
    for key, name in (("remaining_nl", "remaining_nl"), ("catheter", "catheter_conc_ug_per_ml")):
        with raises(PumpError) as e:
            unpack(pack(c))
        assert e.value.detail.startswith("checkpoint.%s: " % name)
        setattr(c, key, getattr(_counters_at_edges(), key))
    c.grants_mono_s = [c.mono_s]
    c.mono_s -= 1  # a grant after the checkpoint that saved it
    with raises(PumpError) as e:
        unpack(pack(c))
    assert e.value.detail.startswith("checkpoint.grants_mono_s: ")


def test_a_version_1_checkpoint_is_read_and_migrated():
    c = _counters_at_edges()
    c.latched, c.occ_jump_x256 = 0xFFFF & ((1 << 13) - 1), 65535
    body = struct.pack("<IBiiiiIHIiIHHIB", c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl,
                       c.total_ul, c.total_nl_rem, c.conc_ug_per_ml, *c.catheter[0], c.latched,
                       c.occ_base_kpa_x10, c.occ_jump_x256, 2)
    body += struct.pack("<II", c.wall_s - 86401, c.wall_s - 100)  # grants in wall seconds: a day and more ago, 100 s
    d = unpack(body, 1)
    for key in _FIELDS[:-1]:
        assert getattr(d, key) == (c.catheter[:1] if key == "catheter" else getattr(c, key)), key  # the bridge
    assert d.prog_seq is None  # no program seq known: nothing judged
    # the monotonic clock starts a day in; the last day's grants keep their age, so an update opens no lockout
    assert (d.mono_s, d.mono_ms, d.grants_mono_s, d.phase_shift_ms, d.windows) == (86400, 0, [86300], [], [])
    with raises(PumpError) as e:
        unpack(body, 4)  # a newer firmware's record: not guessed at
    assert e.value.code == E_CORRUPT


def test_a_version_2_checkpoint_is_read_and_migrated():
    c = _counters_at_edges()
    body = struct.pack("<IBiiiiIHIiIIHIIB", c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl,
                       c.total_ul, c.total_nl_rem, c.conc_ug_per_ml, *c.catheter[0], c.latched,
                       c.occ_base_kpa_x10, c.occ_jump_x256, c.prog_seq, 1)
    body += struct.pack("<I", c.wall_s - 3600)
    d = unpack(body, 2)
    for key in _FIELDS:
        assert getattr(d, key) == (c.catheter[:1] if key == "catheter" else getattr(c, key)), key
    assert (d.mono_s, d.grants_mono_s) == (86400, [82800])
    with raises(PumpError) as e:
        unpack(body + b"\0", 2)
    assert e.value.code == E_CORRUPT


def test_checkpoint_record_keeps_the_monotonic_time_the_phases_and_the_windows():
    c = Counters()
    c.set_times(MONDAY_S * 1000 + 999, (1 << 30) * 1000 - 1)  # the last small-int second, 999 ms
    c.phase_shift_ms, c.phase_until_s = [1, 7 * DAY_MS - 1, 3 * HOUR_MS], [0, 0xFFFFFFFF, 12345]
    for day, hour in (([0] * 23 + [255], [3] * 12),  # one byte a value
                      ([256] * 24, [0] * 11 + [65535]),  # two
                      ([65536] + [0] * 23, [0xFFFFFFFF] * 12)):  # four
        for allow in ([0] * 24, [0] * 23 + [7]):
            c.windows = [(0xFFFFFFFF, 0x7FFFFFFF, -1, day, allow), (0, 0, 0x3FFFFFFF, hour, [1] * 12)]
            d = unpack(pack(c))
            assert d.times() == c.times() == (MONDAY_S * 1000 + 999, (1 << 30) * 1000 - 1)
            assert (d.phase_shift_ms, d.phase_until_s) == (c.phase_shift_ms, c.phase_until_s)
            assert d.windows == c.windows
    raw = pack(c)
    for bad in (raw[:-1], raw + b"\0", raw[:-4 * 24 - 13 - 1]):
        with raises(PumpError) as e:
            unpack(bad)
        assert e.value.code == E_CORRUPT
    c.windows = [c.windows[0]]  # both windows or none
    with raises(PumpError) as e:
        pack(c)
    assert e.value.code == E_CORRUPT


def test_config_defaults_and_validation():
    cfg = PumpConfig()
    assert cfg.nl_per_step == 200 and cfg.checkpoint_interval_s == 900 and cfg.min_rate_at_empty_nl_per_day == 0
    assert PumpConfig(cfg.to_doc()).to_doc() == cfg.to_doc()
    for doc, code in (
        ([], E_MALFORMED),
        ({"nl_per_stepp": 200}, E_MALFORMED),
        ({"nl_per_step": 2.5}, E_MALFORMED),
        ({"nl_per_step": True}, E_MALFORMED),
        ({"nl_per_step": 0}, E_RANGE),
        ({"checkpoint_interval_s": 86401}, E_RANGE),
        ({"empty_reservoir_ul": 4000}, E_RANGE),  # above the default low level
        # rates with no step interval inside the ticks horizon (a stalled pump, or a crash when it empties)
        ({"min_rate_at_empty_nl_per_day": 10}, E_RANGE),
        ({"nl_per_step": 50000, "min_rate_at_empty_nl_per_day": 20000}, E_RANGE),
        ({"nl_per_step": 100000, "prime_rate_nl_per_day": 10000}, E_RANGE),
    ):
        with raises(PumpError) as e:
            PumpConfig(doc)
        assert e.value.code == code, doc
    assert PumpConfig({"min_rate_at_empty_nl_per_day": 10000}).min_rate_at_empty_nl_per_day == 10000
    assert PumpConfig({"nl_per_step": 100000, "prime_rate_nl_per_day": 100000}).nl_per_step == 100000
