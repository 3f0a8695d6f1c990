"""The dosing hot path stays within the boards' 31-bit small ints, at the extreme rates, across the ticks wrap.

StepTimer.stepped, DosePlan.take_due/next_deadline, compat.ticks_add/ticks_diff, Reservoir.delivered and Pump.tick
(with Pump._account) run with all their state converted to host_tests/int31.Int31, whose arithmetic raises
Int31Overflow the moment a result is not a small int. Cold paths may use big ints on the boards (they allocate, but
rarely): retiming (DosePlan.retime and _on_boundary, i.e. StepTimer.set_interval/remaining), checkpoints and event
records run inside int31.unchecked() and their results are converted back (range-checked) before the hot path
continues. The last tests show the checker catches an overflow the 64-bit host would never notice.
"""

import pytest
from support.int31 import LIMIT, Int31, Int31Overflow, cold, convert, to31, unchecked

from pump import steptimer
from board.sim import build
from board.sim.clock import SimRtc, VirtualClock
from board.sim.plant import Plant
from support.flash import FakeStorage
from pump.catheter import Catheter
from pump.compat import TICKS_MASK, ticks_add, ticks_diff
from pump.config import PumpConfig
from pump.controller import Pump
from pump.doseplan import DosePlan
from pump.druglib import DrugLibrary
from pump.reservoir import Reservoir
from pump.steptimer import StepTimer, interval_for
from support.plan import MONDAY_S, PRIME_NL_PER_DAY, START, therapy


DAY_MS = 86400000

# (volume rate nL/day, nL per step): the fastest and slowest rates with small and large steps
_EXTREMES = ((50000000, 1), (50000000, 10), (50000000, 200), (10000, 1), (10000, 200), ((1 << 29) + 9, 1))


# ---- the checker itself ----


def test_int31_arithmetic_stays_int31_and_checks_the_range():
    a = Int31(5)
    for r in (a + 3, 3 + a, a - 9, 9 - a, a * 7, 7 * a, a // 2, 17 // a, a % 3, 17 % a, a & 6, 6 & a, a | 8, 8 | a,
              a ^ 1, a << 3, 1 << a, a >> 1, 64 >> a, -a, abs(-a), divmod(a, 2)[0], divmod(17, a)[1]):
        assert type(r) is Int31
    big = Int31(LIMIT - 1)
    for op in (lambda: big + 1, lambda: 1 + big, lambda: -big - 2, lambda: big * 2, lambda: Int31(1) << 30,
               lambda: 2 * big, lambda: Int31(-LIMIT + 1) - 1, lambda: a - LIMIT, lambda: LIMIT // a):
        with pytest.raises(Int31Overflow):
            op()
    with unchecked():
        assert big * 4 == 4 * (LIMIT - 1)
    with pytest.raises(Int31Overflow):
        to31(LIMIT)
    assert to31(None) is None


# ---- ticks ----


def test_ticks_helpers_stay_small_ints():
    values = (0, 1, 0x1FFFFFFF, 0x20000000, TICKS_MASK - 1, TICKS_MASK)
    deltas = (0, 1, -1, 0x1FFFFFFF, -0x1FFFFFFF, 12345, -12345)
    for t in values:
        for d in deltas:
            s = ticks_add(to31(t), to31(d))
            assert type(s) is Int31 and s == (t + d) % (TICKS_MASK + 1)
            assert ticks_diff(s, to31(t)) == d
        for u in values:
            diff = ticks_diff(to31(t), to31(u))
            assert type(diff) is Int31 and -0x20000000 <= diff < 0x20000000


def test_naive_ticks_add_overflows():
    def naive_ticks_add(ticks, delta_ms):
        return (ticks + delta_ms) & TICKS_MASK

    assert naive_ticks_add(TICKS_MASK, 5) == ticks_add(TICKS_MASK, 5)  # right answer on the host...
    with pytest.raises(Int31Overflow):
        naive_ticks_add(to31(TICKS_MASK), to31(5))  # ...through a value no board holds as a small int


# ---- step timer ----


def _int31_timer(timer):
    return convert(timer, "_base", "_acc", "_q", "_r", "_n", "deadline")


def test_steptimer_stepped_at_the_extreme_rates():
    for rate, nl in _EXTREMES:
        timer = StepTimer()
        timer.set_interval(START, interval_for(rate, 1, nl))
        _int31_timer(timer)
        count = 40000 if timer._q < 1000 else 4000  # 4000 steps of 0.01 mL/day at 200 nL: 80 days, 6 wraps
        for _ in range(count):
            timer.stepped()
        assert type(timer.deadline) is Int31 and type(timer._acc) is Int31


def test_injected_overflow_in_the_hot_path_is_caught(monkeypatch):
    def naive_ticks_add(ticks, delta_ms):
        return (ticks + delta_ms) & TICKS_MASK

    monkeypatch.setattr(steptimer, "ticks_add", naive_ticks_add)
    timer = StepTimer()
    timer.set_interval(START, interval_for(50000000, 1, 200))
    _int31_timer(timer)
    with pytest.raises(Int31Overflow):
        for _ in range(10000):  # the wrap comes after 600 s
            timer.stepped()


# ---- dose plan ----


def _int31_plan(plan):
    def after():
        _int31_timer(plan.timer)
        convert(plan, "boundary", "nl_per_step")
        convert(plan.cal, "day", "ms_of_day", "ref_ticks")

    cold(plan, "retime", after)
    cold(plan, "_on_boundary", after)
    after()
    return plan


def _drive_plan(plan, steps_wanted, limit=16):
    steps = wakes = 0
    while steps < steps_wanted:
        now = plan.next_deadline()
        assert type(now) is Int31
        steps += plan.take_due(now, limit)
        wakes += 1
    return steps, wakes


def test_doseplan_take_due_at_the_extreme_rates():
    for rate, nl in _EXTREMES[:5]:
        # rate nL/day = dose ng/day * 1000 / conc: dose = rate, conc = 1000
        plan = DosePlan(nl, PRIME_NL_PER_DAY, MONDAY_S - 300, START)  # 23:55: midnight inside the run
        plan.set_therapy(START, therapy(((0, rate),), 1000), 1000)
        _int31_plan(plan)
        wanted = 40000 if rate > 10000 else (20000 if nl == 1 else 500)  # 0.01 mL/day: 2 days, or 10 days
        steps, wakes = _drive_plan(plan, wanted)
        assert steps >= wanted
        assert wakes >= steps  # one wake per step (plus boundaries): never a batch


def test_doseplan_year_at_the_lowest_rate():
    plan = DosePlan(200, PRIME_NL_PER_DAY, MONDAY_S + 1, START)  # from 00:00:01: no step falls on a midnight
    plan.set_therapy(START, therapy(((0, 100000),), 10000), 10000)  # 0.01 mL/day: 50 steps a day
    _int31_plan(plan)
    steps, wakes = _drive_plan(plan, 365 * 50)
    assert wakes == steps + 365  # every midnight is a boundary wake
    assert plan.cal.day == MONDAY_S // 86400 + 365


# ---- catheter queue ----


def _int31_catheter(c):
    convert(c, "head", "n", "used_nl", "old_nl", "slots")
    c._nl[:] = [to31(v) for v in c._nl]
    c._conc[:] = [to31(v) for v in c._conc]
    c._kept[:] = [to31(v) for v in c._kept]
    return c


def test_catheter_moved_stays_small_at_the_largest_volumes():
    top = (1 << 29) - 1  # the largest volume the queue takes: a segment plus a step stays a small int
    c = Catheter()
    c.restore([(top - 1000, 30000), (600, 20000), (399, 1000)])
    _int31_catheter(c)
    c.keep()
    assert not c.moved(to31(top - 1001))
    assert c.moved(to31(top))  # past every end at once
    assert c.n == 0 and c.old_nl == 0
    c.undo()
    ends = 0
    for _ in range(600):
        ends += c.moved(to31(1 << 20))
    assert ends == 1 and c.n == 0  # the 512th step ends the first segment and carries past the two short ones


def test_doseplan_drains_a_stacked_queue_within_small_ints_at_the_extreme_rates():
    for rate, nl in _EXTREMES[:3]:
        plan = DosePlan(nl, PRIME_NL_PER_DAY, MONDAY_S + 60, START)
        plan.set_therapy(START, therapy(((0, rate),), 1000), 1000)
        with unchecked():
            plan.refill(START, 2000, 5000000)  # the largest catheter: 5 mL
            plan.catheter.moved(4990000)  # 10 uL of the first drug left at the tip
            plan.refill(START, 1000, 5000000)
        _int31_plan(plan)
        _int31_catheter(plan.catheter)
        steps, _wakes = _drive_plan(plan, 10000 // nl + 100)  # through the first end (its retime is cold)
        assert plan.catheter.n == 1 and plan.tip_conc() == 2000 and type(plan.catheter.used_nl) is Int31


# ---- reservoir ----


def test_reservoir_delivered_stays_small():
    r = Reservoir(to31(3000000), to31(500000))
    r.fill(100000000)  # the largest reservoir the config allows
    convert(r, "remaining_nl", "_next_nl", "fill_nl")
    changes = 0
    for _ in range(100000):
        if r.delivered(to31(1000)):
            changes += 1
            convert(r, "remaining_nl", "_next_nl")
    assert changes == 2 and r.remaining_nl == 0


# ---- the controller's tick ----


def _wide_library():
    b = {"hard_min": 0, "soft_min": None, "soft_max": None, "hard_max": 1000000}
    return DrugLibrary.from_doc(
        {"format": 1, "version": "t", "drugs": {"wide": {
            "concentration_ug_per_ml": b, "daily_dose_ug_per_day": b, "bolus_dose_ug": b}}}
    )


def _int31_pump(nl, dose_ug, conc, wall_s, fill_ul=40000, wrap_after_ms=3600000):
    clock = VirtualClock(TICKS_MASK + 1 - wrap_after_ms)
    cfg = {"nl_per_step": nl, "reservoir_ul": 100000}
    storage = FakeStorage()
    hw = build({"clock": clock, "plant": Plant(nl_per_step=nl, fill_ul=fill_ul), "storage": storage,
                "rtc": SimRtc(clock, wall_s)})
    pump = Pump(hw, PumpConfig(cfg), _wide_library())
    pump.refill(fill_ul, conc)
    pump.program({"drug": {"name": "wide", "concentration_ug_per_ml": conc},
                  "therapy": {"mode": "constant", "dose_ug_per_day": dose_ug}}, confirm_battery=True)

    def after():
        convert(pump, "nl_per_step", "steps", "_ckpt_due", "_max_steps", "_sample_due")
        convert(pump.safety, "battery_due", "holding")
        convert(pump.c, "delivered_today_nl", "total_ul", "total_nl_rem", "day")
        convert(pump.reservoir, "remaining_nl", "_next_nl", "low_nl", "empty_nl")

    for name in ("checkpoint", "_event", "_reservoir_changed", "_new_day", "_bolus_finished", "_sample"):
        cold(pump, name, after)
    _int31_plan(pump.plan)
    after()
    return clock, pump


def _run_pump(clock, pump, wakes):
    for _ in range(wakes):
        deadline = pump.plan.next_deadline()
        clock.t_ms += int(ticks_diff(deadline, clock.ticks_ms()))  # the simulator's own clock is not firmware
        assert type(pump.tick(deadline)) is Int31


def test_pump_tick_at_50_ml_per_day():
    # 5 mg/day at 100 ug/mL = 50 mL/day; 10 nL per step: 17.28 ms; from 23:55 across midnight and the ticks wrap
    clock, pump = _int31_pump(10, 5000, 100, MONDAY_S - 300, wrap_after_ms=400000)  # the ticks wrap 400 s in
    _run_pump(clock, pump, 40000)
    assert pump.steps >= 40000 - 1
    assert type(pump.c.delivered_today_nl) is Int31 and type(pump.reservoir.remaining_nl) is Int31


def test_pump_tick_for_a_year_at_0_01_ml_per_day():
    clock, pump = _int31_pump(200, 100, 10000, MONDAY_S, fill_ul=10000)
    _run_pump(clock, pump, 365 * 51)
    assert pump.steps >= 365 * 49
    assert type(pump.c.total_ul) is Int31


def test_pump_steps_counter_stays_a_small_int():
    # Pump.steps counts every step since boot: at 50 mL/day with 1 nL per step (both allowed) it would pass 2**30
    # after 21.5 days of uptime, and every step would allocate from then on. It must wrap instead. Here the pump starts
    # as if it had run 21.47 days.
    clock, pump = _int31_pump(1, 5000, 100, MONDAY_S)
    pump.steps = to31(LIMIT - 30000)
    _run_pump(clock, pump, 60000)
    assert 0 <= pump.steps < 60000  # wrapped like ticks
