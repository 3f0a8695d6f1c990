"""Safety at firmware level: the independent over-delivery monitor catches an injected dose-engine bug, and holds and
fault alarms outlive a reset (a reset never releases a hold nor forgets an unacknowledged fault).
"""

from pump import alarms as al
from support.plan import HOUR_MS
from support.rig import PB, Rig, break_dose_engine, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _delivered(rig):
    return len(rig.step_times)


def test_a_dose_engine_delivering_three_times_the_program_is_caught_within_the_hour():
    rig = Rig(fill_ul=20000, prescription=rx(4000))  # 0.4 mL/day: 2000 steps/day, 83.3 an hour
    pump = rig.pump
    hour = pump.safety.hour_window
    assert hour.cap == 2000 * 3601 // 86400 + 1  # the program's hour, a second late, one step
    break_dose_engine(pump, factor=3)
    rig.run(HOUR_MS)
    assert pump.safety.alarms.is_active(al.A_OVER_DELIVERY)
    n = _delivered(rig)
    assert hour.cap < n <= hour.cap + 3  # caught at the first step past the bound
    assert not rig.hw.stepper.enabled and not pump.plan.running
    rig.run(6 * HOUR_MS)
    assert _delivered(rig) == n  # held: nothing moves until a clinician resumes


def test_a_slightly_fast_engine_is_caught_by_the_day_window():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    day = pump.safety.day_window
    plan = pump.plan
    take_due = plan.take_due
    count = [0]

    def one_percent_more(now, limit):
        n = take_due(now, limit)
        count[0] += n
        return n + 1 if n and count[0] % 100 == 0 else n

    plan.take_due = one_percent_more
    rig.run(26 * HOUR_MS)
    assert pump.safety.alarms.is_active(al.A_OVER_DELIVERY)
    assert _delivered(rig) <= day.cap + 2  # 20 steps a day too many: caught before the day's bound is passed by 2


def test_granted_boluses_and_priming_widen_the_bounds_only_while_they_count():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    hour = pump.safety.hour_window
    cap = hour.cap
    pump.patient_bolus()
    bolus_steps = 100 * 1000 * 1000 // 10000 // 200  # 100 ug at 10 mg/mL: 10 uL, 50 steps
    assert hour.cap == cap + bolus_steps + 2
    rig.run(3 * HOUR_MS)  # the bolus ran for 10 minutes; an hour later its allowance is gone
    assert hour.cap == cap and not pump.safety.alarms.is_active(al.A_OVER_DELIVERY)
    pump.suspend()
    pump.prime(50)
    assert hour.cap == cap + 50 * 1000 // 200 + 2
    rig.run(HOUR_MS)
    pump.resume()
    rig.run(2 * HOUR_MS)
    assert hour.cap == cap and not pump.safety.alarms.is_active(al.A_OVER_DELIVERY)


def test_a_runaway_engine_is_caught_within_one_hour_allowance():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    hour = pump.safety.hour_window
    break_dose_engine(pump, runaway=True)
    rig.run(HOUR_MS)
    assert pump.safety.alarms.is_active(al.A_OVER_DELIVERY)
    n = _delivered(rig)
    assert hour.cap < n <= hour.cap + pump.cfg.max_steps_per_wake


def test_an_over_delivery_hold_survives_a_reset_until_resumed():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    break_dose_engine(rig.pump, runaway=True)
    rig.run(HOUR_MS)
    n = _delivered(rig)
    pump = rig.boot()  # a reset (watchdog or power cut) with the bug gone
    assert pump.safety.alarms.is_active(al.A_OVER_DELIVERY) and pump.safety.holding
    assert not pump.plan.running
    rig.run(4 * HOUR_MS)
    assert _delivered(rig) == n
    assert pump.resume_after_alarm() == 0
    rig.run(4 * HOUR_MS)
    assert 300 < _delivered(rig) - n <= 4 * 2000 // 24 + 1  # the program's pace again, no catch-up
    assert not rig.boot().safety.holding  # the release was saved too

