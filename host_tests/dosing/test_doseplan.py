"""Dose plan: every step checked against the exact integral of the programmed rate (integer cross-multiplication).

Checked at every step instant t_k (k-th step): integral(t_k) <= k (just before the step the pump is at most one step
behind), integral(t_k) > k - 1 (never a step early) and k - integral(t_k) < max rate * 1 ms (a step fires at the
whole ms at or just before its exact time). Ticks start near the 2**30 wrap. The reference (`Ideal`, `check_steps`) and
the driver (`drive`) are support/plan.py's.
"""

from pump.compat import ticks_add, ticks_diff
from pump.doseplan import KIND_CLINICIAN, KIND_PATIENT, KIND_PERIODIC, DosePlan
from pump.therapy import ALL_DAYS, MODE_FLEX, MODE_STOPPED, Therapy
from support.plan import (DAY_MS, HOUR_MS, MONDAY_S, PRIME_NL_PER_DAY, START, Ideal, bolus_rate, check_steps, dose_rate,
                          drive, ended, frac_add, granted, plan_for, schedule_ideal, therapy)

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


# ---- constant rates ----

# (dose ng/day, conc ug/mL, nL per step): 0.01 to 50 mL/day
_CONSTANT = (
    (100000, 10000, 200),  # 0.01 mL/day
    (100000, 10000, 1),  # 0.01 mL/day, 1 nL per step
    (4000000, 10000, 200),  # 0.4 mL/day
    (1234567, 9973, 170),  # odd numbers: the remainder is carried every step
    (20000000, 25000, 50),  # 0.8 mL/day
    (7777777, 1001, 250),  # 7.77 mL/day
    (50000000, 1000, 200),  # 50 mL/day
    (50000000, 1000, 37),  # 50 mL/day, small steps
    (15000000, 300, 1000),  # 50 mL/day, large steps
)


def test_constant_rates_exact_at_every_step():
    for dose, conc, nl in _CONSTANT:
        rate = dose_rate(dose, conc)
        assert 10000 * rate[1] <= rate[0] <= 50000000 * rate[1]
        steps_per_day = rate[0] // (rate[1] * nl)
        # about 1500 steps, at least 10 minutes and a midnight (the run starts at 23:55)
        until = max(600000, min(3 * DAY_MS, 1500 * DAY_MS // max(steps_per_day, 1)))
        plan = plan_for(therapy(((0, dose),), conc), nl, MONDAY_S - 300)
        steps = drive(plan, until)
        check_steps(steps, Ideal(nl, rate), until)
        assert len(steps) >= 100


def test_constant_rate_over_a_week_exact():
    dose, conc, nl = 1234567, 9973, 170  # about 728 steps a day
    plan = plan_for(therapy(((0, dose),), conc), nl)
    steps = drive(plan, 7 * DAY_MS)
    check_steps(steps, Ideal(nl, dose_rate(dose, conc)), 7 * DAY_MS)
    # the midnight boundaries were processed (one retime a day) without disturbing the phase
    assert plan.cal.day == MONDAY_S // 86400 + 7


def test_late_wakes_deliver_the_same_steps_in_time_order():
    # One wake every 10 minutes (a busy loop) delivers exactly the steps the event-driven run delivers by then,
    # boundaries included: steps before a schedule change at the old rate, after it at the new one.
    daily = ((0, 4000000), (2 * HOUR_MS + 5 * 60000, 9000000), (2 * HOUR_MS + 31 * 60000, 0), (3 * HOUR_MS, 6000000))
    nl = 200
    th = therapy(daily, 10000)
    exact = drive(plan_for(th, nl), 5 * HOUR_MS)
    plan = plan_for(th, nl)
    now = START
    delivered = 0
    for i in range(1, 43):
        now = ticks_add(now, 7 * 60000 + 1)
        delivered += plan.take_due(now, 100000)
        assert delivered == len([t for t in exact if t <= i * (7 * 60000 + 1)])


def test_take_due_respects_the_limit():
    plan = plan_for(therapy(((0, 50000000),), 1000), 200)  # 345.6 ms per step
    now = ticks_add(START, 40 * 3456 // 10)  # 40 steps due
    assert plan.take_due(now, 16) == 16
    assert ticks_diff(plan.next_deadline(), now) < 0  # the rest is still due
    assert plan.take_due(now, 16) == 16
    assert plan.take_due(now, 16) == 8
    assert plan.take_due(now, 16) == 0
    assert ticks_diff(plan.next_deadline(), now) > 0


# ---- flex schedules ----


def test_flex_schedule_exact_over_two_days():
    daily = ((0, 4000000), (6 * HOUR_MS, 9000000), (6 * HOUR_MS + 30 * 60000, 0), (18 * HOUR_MS, 2345678))
    conc, nl = 10000, 200
    wall = MONDAY_S + 5 * 3600
    plan = plan_for(therapy(daily, conc), nl, wall)
    until = 2 * DAY_MS
    steps = drive(plan, until)
    ideal = schedule_ideal(Ideal(nl), [daily] * 7, conc, wall, until, 0)
    check_steps(steps, ideal, until)
    # no step while the schedule says 0 (06:30 to 18:00, i.e. 1.5 h to 13 h after the start)
    off = [t for t in steps if 90 * 60000 < t % DAY_MS < 13 * HOUR_MS]
    assert off == []


def test_weekly_override_applies_on_its_day():
    daily = ((0, 4000000), (12 * HOUR_MS, 8000000))
    sunday = ((0, 1000000),)
    weekly = tuple(sunday if d == 6 else daily for d in range(7))
    conc, nl = 10000, 200
    wall = MONDAY_S + 5 * 86400  # Saturday 00:00
    plan = plan_for(Therapy("test", conc, MODE_FLEX, daily, weekly, None, (), False), nl, wall)
    until = 3 * DAY_MS  # Saturday, Sunday, Monday
    steps = drive(plan, until)
    ideal = schedule_ideal(Ideal(nl), list(weekly), conc, wall, until, 5)
    check_steps(steps, ideal, until)
    sunday_steps = len([t for t in steps if DAY_MS < t <= 2 * DAY_MS])
    assert 499 <= sunday_steps <= 501  # 1 mg/day at 10 mg/mL = 100 uL = 500 steps of 200 nL


def test_wakes_are_steps_plus_boundaries():
    daily = ((0, 4000000), (6 * HOUR_MS, 9000000), (18 * HOUR_MS, 2000000))
    plan = plan_for(therapy(daily, 10000), 200, MONDAY_S + 3600)
    wakes = steps = 0
    now = START
    t = 0
    while True:
        dt = ticks_diff(plan.next_deadline(), now)
        if t + dt > DAY_MS:
            break
        t += dt
        now = plan.next_deadline()
        steps += plan.take_due(now, 1000)
        wakes += 1
    # from 01:00 for a day: boundaries at 06:00, 18:00 and midnight; every other wake delivers a step
    assert steps > 1000
    assert wakes == steps + 3
    assert plan.retimes == 1 + 3


# ---- boluses ----


def test_bolus_on_top_exact_and_reported_when_done():
    dose, conc, nl = 4000000, 10000, 200
    plan = plan_for(therapy(((0, dose),), conc), nl)
    basal = dose_rate(dose, conc)
    ideal = Ideal(nl, basal)
    t1, d1 = 1234567, 17 * 60000
    t2, d2 = t1 + 5 * 60000, 60 * 60000

    def b1(now, t):
        assert plan.start_bolus(now, KIND_CLINICIAN, 250000, d1, 125)  # with the allowance the caller granted

    def b2(now, t):
        assert plan.start_bolus(now, KIND_PATIENT, 100000, d2)

    ideal.rate(t1, frac_add(basal, bolus_rate(250000, d1, conc)))
    ideal.rate(t2, frac_add(frac_add(basal, bolus_rate(250000, d1, conc)), bolus_rate(100000, d2, conc)))
    ideal.rate(t1 + d1, frac_add(basal, bolus_rate(100000, d2, conc)))
    ideal.rate(t2 + d2, basal)
    until = 3 * HOUR_MS
    steps = drive(plan, until, [(t1, b1), (t2, b2)])
    check_steps(steps, ideal, until)
    assert ended(plan) == [(KIND_CLINICIAN, 250000), (KIND_PATIENT, 100000)]
    assert granted(plan) == [125, 0]  # handed back as granted; none when none was
    assert plan.boluses == []
    # the bolus volumes were delivered: 25 uL + 10 uL on top of 0.4 mL/day for 3 h
    assert len(steps) == (400000 * 3 // 24 + 25000 + 10000) // nl


def test_at_most_three_boluses_at_once():
    plan = plan_for(therapy(((0, 4000000),), 10000), 200)
    for _ in range(3):
        assert plan.start_bolus(START, KIND_CLINICIAN, 100000, 600000)
    assert not plan.start_bolus(START, KIND_CLINICIAN, 100000, 600000)
    assert len(plan.boluses) == 3


def test_periodic_bolus_runs_on_its_days_only():
    dose, conc, nl = 2000000, 10000, 200
    # 50 ug at 12:00 for 30 min on Wednesdays and Fridays
    periodic = ((12 * HOUR_MS, 50000, 30 * 60000, (1 << 2) | (1 << 4)),)
    plan = plan_for(therapy(((0, dose),), conc, periodic), nl)
    basal = dose_rate(dose, conc)
    ideal = Ideal(nl, basal)
    for day in (2, 4):
        ideal.rate(day * DAY_MS + 12 * HOUR_MS, frac_add(basal, bolus_rate(50000, 30 * 60000, conc)))
        ideal.rate(day * DAY_MS + 12 * HOUR_MS + 30 * 60000, basal)
    until = 7 * DAY_MS
    done = []

    def collect(t, p):
        done.extend(ended(p))
        p.finished = []

    steps = drive(plan, until, on_step=collect)
    done.extend(ended(plan))
    check_steps(steps, ideal, until)
    assert done == [(KIND_PERIODIC, 50000), (KIND_PERIODIC, 50000)]


def test_periodic_bolus_every_day_at_midnight():
    periodic = ((0, 20000, 60000, ALL_DAYS),)
    plan = plan_for(therapy(((0, 2000000),), 10000, periodic), 200, MONDAY_S + 3600)
    drive(plan, 3 * DAY_MS)
    assert ended(plan) == [(KIND_PERIODIC, 20000)] * 3
    assert granted(plan) == [0] * 3  # the program's own boluses: inside the day limit, no allowance of their own


def test_set_therapy_cancels_boluses_and_returns_them():
    plan = plan_for(therapy(((0, 4000000),), 10000), 200)
    plan.start_bolus(START, KIND_PATIENT, 100000, 600000)
    cancelled = plan.set_therapy(ticks_add(START, 1000), therapy(((0, 3000000),), 10000), 10000)
    assert [(b.kind, b.dose_ng) for b in cancelled] == [(KIND_PATIENT, 100000)]
    assert plan.boluses == []
    assert plan.finished == []


# ---- suspend, resume, rate changes ----


def test_suspend_resume_carries_the_phase():
    dose, conc, nl = 50000000, 1000, 200  # 345.6 ms per step
    plan = plan_for(therapy(((0, dose),), conc), nl)
    rate = dose_rate(dose, conc)
    ideal = Ideal(nl, rate)
    t1, t2, t3, t4 = 10100, 20000, 30050, 31000
    cancelled = []

    def suspend(now, t):
        cancelled.extend(plan.suspend(now))

    def resume(now, t):
        plan.resume(now)

    def bolus(now, t):
        plan.start_bolus(now, KIND_CLINICIAN, 50000, 600000)

    ideal.rate(t1, (0, 1))
    ideal.rate(t2, rate)
    ideal.rate(t3, frac_add(rate, bolus_rate(50000, 600000, conc)))
    ideal.rate(t4, (0, 1))
    steps = drive(plan, 60000, [(t1, suspend), (t2, resume), (t3, bolus), (t4, suspend)])
    check_steps(steps, ideal, 60000)
    assert [t for t in steps if t1 < t < t2 or t > t4] == []
    assert [(b.kind, b.dose_ng) for b in cancelled] == [(KIND_CLINICIAN, 50000)]
    # suspended: nothing due, but the plan still wakes at the next boundary
    assert not plan.timer.running


def test_new_program_carries_the_phase():
    conc, nl = 10000, 200
    plan = plan_for(therapy(((0, 40000000),), conc), nl)
    ideal = Ideal(nl, dose_rate(40000000, conc))
    changes = ((7777, 13000000), (31234, 21000000), (40001, 4000000), (90000, 50000000))
    actions = []
    for t, dose in changes:
        ideal.rate(t, dose_rate(dose, conc))
        actions.append((t, lambda now, t, dose=dose: plan.set_therapy(now, therapy(((0, dose),), conc), conc)))
    steps = drive(plan, 200000, actions)
    check_steps(steps, ideal, 200000)


def test_stopped_therapy_delivers_nothing():
    plan = plan_for(therapy((), 10000, mode=MODE_STOPPED), 200)
    assert not plan.running
    assert drive(plan, 2 * DAY_MS) == []
    plan.resume(START)
    assert not plan.running


def test_reset_phase_owes_a_whole_step():
    plan = plan_for(therapy(((0, 34560000),), 1000), 200)  # exactly 500 ms
    now = ticks_add(START, 300)
    plan.reset_phase(now)
    assert ticks_diff(plan.next_deadline(), now) == 500
    # overdue: still one whole interval, no catch-up
    late = ticks_add(now, 5000)
    plan.reset_phase(late)
    assert ticks_diff(plan.next_deadline(), late) == 500
    assert plan.take_due(late, 100) == 0


# ---- reservoir: refill, bridge, priming, cap ----


def test_refill_with_new_concentration_bridges_the_catheter():
    dose, c1, c2, nl = 6000000, 10000, 20000, 200
    catheter_nl = 150000
    plan = plan_for(therapy(((0, dose),), c1), nl)
    ideal = Ideal(nl, dose_rate(dose, c1))
    t_refill = 3 * HOUR_MS + 777
    seen = {}

    def refill(now, t):
        plan.refill(now, c2, catheter_nl)
        seen["refill_steps"] = None

    def on_step(t, p):
        if "refill_steps" in seen and "switch" not in seen and p.catheter.old_nl == 0:
            seen["switch"] = t

    steps = drive(plan, 2 * DAY_MS, [(t_refill, refill)], on_step=on_step)
    # the catheter's old drug goes in at the old strength: exactly ceil(150 uL / 200 nL) = 750 steps
    switch = seen["switch"]
    assert len([t for t in steps if t_refill < t <= switch]) == 750
    assert plan.conc_ug_per_ml == c2 and plan.catheter.old_nl == 0
    ideal.rate(switch, dose_rate(dose, c2))
    check_steps(steps, ideal, 2 * DAY_MS)


def test_refill_with_same_or_first_concentration_has_no_bridge():
    plan = plan_for(therapy(((0, 6000000),), 10000), 200)
    plan.refill(START, 10000, 150000)
    assert plan.catheter.old_nl == 0
    fresh = DosePlan(200, PRIME_NL_PER_DAY, MONDAY_S, START)
    fresh.refill(START, 10000, 150000)
    assert fresh.catheter.old_nl == 0 and fresh.conc_ug_per_ml == 10000


def test_priming_moves_its_volume_at_the_priming_rate_then_stops():
    nl = 200
    plan = DosePlan(nl, PRIME_NL_PER_DAY, MONDAY_S, START)
    plan.set_therapy(START, None, 10000)
    ideal = Ideal(nl)
    t_prime = 5000
    seen = {}

    def prime(now, t):
        plan.start_prime(now, 150100)  # not a whole number of steps: 751 steps

    def on_step(t, p):
        if "done" not in seen and p.prime_nl_left == 0:
            seen["done"] = t

    ideal.rate(t_prime, (PRIME_NL_PER_DAY, 1))
    steps = drive(plan, HOUR_MS, [(t_prime, prime)], on_step=on_step)
    assert len(steps) == 751
    ideal.rate(seen["done"], (0, 1))
    check_steps(steps, ideal, HOUR_MS)


def test_priming_then_therapy_continues_exactly():
    dose, conc, nl = 6000000, 10000, 200
    plan = plan_for(therapy(((0, dose),), conc), nl)
    plan.suspend(START)
    ideal = Ideal(nl)
    seen = {}

    def prime(now, t):
        plan.start_prime(now, 30000)

    def resume(now, t):
        plan.resume(now)

    def on_step(t, p):
        if "done" not in seen and p.prime_nl_left == 0:
            seen["done"] = t

    ideal.rate(1000, (PRIME_NL_PER_DAY, 1))
    steps = drive(plan, HOUR_MS, [(1000, prime), (2000, resume)], on_step=on_step)
    ideal.rate(seen["done"], dose_rate(dose, conc))
    check_steps(steps, ideal, HOUR_MS)


def test_cap_limits_or_stops_the_rate():
    dose, conc, nl = 50000000, 1000, 200
    plan = plan_for(therapy(((0, dose),), conc), nl)
    ideal = Ideal(nl, dose_rate(dose, conc))
    ideal.rate(20000, (0, 1))
    ideal.rate(40000, (10000000, 1))
    ideal.rate(60000, dose_rate(dose, conc))  # a cap above the rate leaves it alone
    actions = [
        (20000, lambda now, t: plan.set_cap(now, 0)),
        (40000, lambda now, t: plan.set_cap(now, 10000000)),
        (60000, lambda now, t: plan.set_cap(now, 60000000)),
        (80000, lambda now, t: plan.set_cap(now, -1)),
    ]
    steps = drive(plan, 100000, actions)
    check_steps(steps, ideal, 100000)
    assert [t for t in steps if 20000 < t < 40000] == []
    before = plan.retimes
    plan.set_cap(START, -1)  # unchanged: no retime
    assert plan.retimes == before


def test_boundary_at_least_daily_without_therapy():
    plan = DosePlan(200, PRIME_NL_PER_DAY, MONDAY_S + 3600, START)
    assert ticks_diff(plan.next_deadline(), START) == DAY_MS
    plan.set_therapy(START, None, 0)
    assert ticks_diff(plan.next_deadline(), START) == 23 * HOUR_MS
    assert drive(plan, 3 * DAY_MS) == []
    assert plan.cal.day == MONDAY_S // 86400 + 3


# ---- edges found by mutation testing (docs/mutation.md) ----


def test_a_fresh_plan_has_no_rate_and_wakes_at_midnight():
    plan = DosePlan(200, PRIME_NL_PER_DAY)  # no wall clock yet: 2000-01-01 00:00 at ticks 0
    assert plan.rate_num == 0 and plan.rate_den > 0
    assert plan.next_deadline() == DAY_MS
    plan.resume(0)  # nothing to resume
    assert not plan.running and plan.take_due(DAY_MS, 10) == 0
    assert plan.start_bolus(0, KIND_CLINICIAN, 100000, 600000)  # no drug concentration known: nothing moves
    assert plan.rate_num == 0 and plan.take_due(600000, 10) == 0


def test_setting_the_wall_clock_moves_the_schedule():
    plan = plan_for(therapy(((0, 4000000), (2 * HOUR_MS, 8000000)), 10000), 200)  # Monday 00:00
    plan.set_wall_s(START, MONDAY_S + 2 * 3600 - 60)  # the clock was an hour and 59 minutes behind
    assert ticks_diff(plan.next_deadline(), START) <= 60000
    plan.take_due(ticks_add(START, 60000), 1000)
    num, den = dose_rate(8000000, 10000)
    assert plan.rate_num * den == num * plan.rate_den


def test_lowest_concentration_and_dose_still_move():
    plan = plan_for(therapy(((0, 1),), 1), 200)  # 1 ng/day at 1 ug/mL: 1000 nL/day
    assert (plan.rate_num, plan.rate_den) == (1000, 1)
    plan = plan_for(therapy(((0, 4000000),), 10000), 200, conc=0)  # no concentration: nothing can be dosed
    assert plan.rate_num == 0 and not plan.timer.running


def test_a_refill_bridges_any_catheter_volume_but_none():
    for catheter_nl, bridged in ((0, 0), (1, 1)):
        plan = plan_for(therapy(((0, 6000000),), 10000), 200)
        plan.refill(START, 20000, catheter_nl)
        assert plan.catheter.old_nl == bridged


def _step_at(interval_ms, change_ms, new_dose):
    """A schedule stepping exactly every interval_ms (1 ms or more) from Monday 00:00, changing at change_ms."""
    dose = 200 * 86400  # with conc = interval_ms ug/mL: 200 nL * 86400000 ms / interval_ms per day
    return therapy(((0, dose), (change_ms, new_dose)), interval_ms)


def test_a_step_due_just_before_a_schedule_change_is_not_late():
    steps = drive(plan_for(_step_at(2 * HOUR_MS - 1, 2 * HOUR_MS, 200 * 86400), 200), 3 * HOUR_MS)
    assert steps[0] == 2 * HOUR_MS - 1


def test_a_step_due_at_a_change_to_zero_is_delivered():
    steps = drive(plan_for(_step_at(2 * HOUR_MS, 2 * HOUR_MS, 0), 200), 5 * HOUR_MS)
    assert steps == [2 * HOUR_MS]  # due at the old rate; the new rate is zero


def test_a_suspended_pump_wakes_only_at_midnight_and_starts_no_periodic_bolus():
    periodic = ((10 * HOUR_MS, 50000, 30 * 60000, ALL_DAYS),)
    th = therapy(((0, 2000000), (6 * HOUR_MS, 3000000)), 10000, periodic)
    plan = plan_for(th, 200)
    plan.suspend(START)
    assert ticks_diff(plan.next_deadline(), START) == DAY_MS
    plan = plan_for(th, 200)
    plan.suspend(START)
    assert drive(plan, 2 * DAY_MS) == [] and plan.boluses == [] and plan.finished == []
    midnight = ((0, 50000, 30 * 60000, ALL_DAYS),)  # a periodic bolus due on a boundary the plan wakes for anyway
    plan = plan_for(therapy(((0, 2000000),), 10000, midnight), 200, MONDAY_S + 3600)
    plan.suspend(START)
    assert drive(plan, 2 * DAY_MS) == [] and plan.finished == []


def test_periodic_bolus_at_midnight_on_its_day_only():
    periodic = ((0, 20000, 60000, 1 << 2),)  # Wednesdays at 00:00
    plan = plan_for(therapy(((0, 2000000),), 10000, periodic), 200, MONDAY_S + 3600)
    drive(plan, 7 * DAY_MS)
    assert ended(plan) == [(KIND_PERIODIC, 20000)]


def test_a_periodic_bolus_on_another_day_adds_no_wake_up():
    periodic = ((10 * HOUR_MS, 50000, 30 * 60000, 1 << 1),)  # Tuesdays at 10:00
    plan = plan_for(therapy(((0, 0),), 10000, periodic), 200)  # Monday 00:00, no basal
    assert ticks_diff(plan.next_deadline(), START) == DAY_MS


def test_a_periodic_bolus_never_makes_a_fourth():
    periodic = ((0, 20000, 60000, ALL_DAYS),)
    plan = plan_for(therapy(((0, 2000000),), 10000, periodic), 200, MONDAY_S - 60)
    for _ in range(3):
        assert plan.start_bolus(START, KIND_CLINICIAN, 10000, 10 * 60000)
    drive(plan, 20 * 60000)
    assert ended(plan) == [(KIND_CLINICIAN, 10000)] * 3  # midnight came with three running: no periodic one


def test_boluses_ending_a_millisecond_apart_end_in_order():
    plan = plan_for(therapy(((0, 2000000),), 10000), 200)
    plan.start_bolus(START, KIND_CLINICIAN, 10000, 600000)
    plan.start_bolus(ticks_add(START, 1), KIND_PATIENT, 20000, 600000)
    end = ticks_add(START, 600000)
    plan.take_due(end, 1000)
    assert ended(plan) == [(KIND_CLINICIAN, 10000)]
    plan.take_due(ticks_add(end, 1), 1000)
    assert ended(plan) == [(KIND_CLINICIAN, 10000), (KIND_PATIENT, 20000)]


def test_a_plan_without_a_wall_clock_keeps_midnight_at_2000_01_01():
    plan = DosePlan(200, PRIME_NL_PER_DAY)
    plan.set_therapy(0, therapy(((0, 1000),), 10000), 10000)  # 100 nL/day: the first step is days away
    assert plan.next_deadline() == DAY_MS


def test_a_command_at_a_bolus_end_ends_it_then():
    plan = plan_for(therapy(((0, 2000000),), 10000), 200)
    plan.start_bolus(START, KIND_CLINICIAN, 10000, 600000)
    end = ticks_add(START, 600000)
    plan.refill(end, 10000, 0)  # a command exactly at the end, before the plan was woken for it
    assert plan.next_deadline() == end
    plan.take_due(end, 1000)
    assert ended(plan) == [(KIND_CLINICIAN, 10000)]


def test_removing_a_cap_that_was_never_set_changes_nothing():
    plan = plan_for(therapy(((0, 2000000),), 10000), 200)
    retimes = plan.retimes
    plan.set_cap(START, -1)
    assert plan.retimes == retimes
    plan.set_cap(START, 0)
    plan.set_cap(START, -1)
    assert plan.retimes == retimes + 2
