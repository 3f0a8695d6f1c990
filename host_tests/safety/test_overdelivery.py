"""Over-delivery monitor on the monotonic clock (whole seconds): never trips at exactly the allowed rate over long runs,
catches a dose engine stepping too fast, latches, ages exactly across idle time of any length, keeps its contents
across a reset, and counts without allocating (also at 34 years of pump time)."""

from pump.errors import E_RANGE, PumpError
from pump.overdelivery import OverDeliveryMonitor, allowed_steps
from support import SkipTest, raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

DAY_MS = 86400000
DAY_S = 86400
T0 = 30 * 365 * DAY_S  # thirty years of pump time, in monotonic seconds
S_MAX = (1 << 30) - 1  # the last small int on the boards: 34 years
NL_PER_STEP = 200


class FakePlan:
    """Steps at the whole ms at or before each exact step time, like the dose plan: step k at floor(k * DAY_MS *
    nl_per_step / rate) ms after the start (exact integer arithmetic). speedup > 1 is the injected bug."""

    def __init__(self, rate_nl_per_day, speedup=1):
        self.num = DAY_MS * NL_PER_STEP
        self.den = rate_nl_per_day * speedup
        self.k = 0

    def next_ms(self):
        self.k += 1
        return self.k * self.num // self.den


def _run(mon, plan, t_end_ms, start=T0, per_wake=1):
    """Drive `mon` with the plan's steps (batched per_wake at the last one's time) until t_end_ms after monotonic
    second `start`; returns (steps, largest total seen, t in ms of the first breach or None)."""
    steps = 0
    peak = 0
    first = None
    while True:
        t = 0
        for _ in range(per_wake):
            t = plan.next_ms()
        if t > t_end_ms:
            return steps, peak, first
        if mon.count(start + t // 1000, per_wake) and first is None:
            first = t
        steps += per_wake
        peak = max(peak, mon.total)


def test_allowed_steps():
    # 5 mL/day at 200 nL/step = 25000 steps/day: 1041.67 steps per hour, plus 1 s of late delivery, plus one step
    assert allowed_steps(5000000, 200, 3600000, 0) == 1042
    assert allowed_steps(5000000, 200, 3600000) == 1042
    assert allowed_steps(5000000, 200, 3600000, 4000) == 1043
    assert allowed_steps(0, 200, 3600000) == 1
    with raises(PumpError) as e:
        allowed_steps(5000000, 0, 3600000)
    assert e.value.code == E_RANGE


def test_exact_allowed_rate_never_trips_over_days():
    for rate in (5000000, 1234567, 50000000):  # 25000, 6172.8, 250000 steps/day
        hour = OverDeliveryMonitor(60, 60, T0)
        hour.set_limit(allowed_steps(rate, NL_PER_STEP, hour.window_ms, 0))
        day = OverDeliveryMonitor(1440, 60, T0)
        day.set_limit(allowed_steps(rate, NL_PER_STEP, day.window_ms, 0))
        plan = FakePlan(rate)
        days = 3 if rate < 50000000 else 1
        steps, _, first = _run(hour, plan, days * DAY_MS)
        assert first is None and not hour.breached
        # the hour window really fills up to its limit (the check is tight, not slack)
        assert hour.total >= hour.limit - 2 - rate * hour.slot_s * 1000 // (DAY_MS * NL_PER_STEP)
        plan = FakePlan(rate)
        steps2, peak, first = _run(day, plan, days * DAY_MS)
        assert steps2 == steps and first is None and not day.breached
        assert peak <= day.limit


def test_a_dose_engine_stepping_twice_as_fast_is_caught_within_the_window():
    rate = 5000000
    mon = OverDeliveryMonitor(60, 60, T0)
    mon.set_limit(allowed_steps(rate, NL_PER_STEP, mon.window_ms))
    steps, _, first = _run(mon, FakePlan(rate, speedup=2), 2 * 3600000)
    assert first is not None and mon.breached
    assert first <= 3600000  # twice the rate passes the hour's allowance within the first hour
    assert 1800000 < first  # but not before the hour's allowance was really exceeded
    assert mon.count(T0 + 5 * 3600, 0) and mon.total == 0  # latched after the window emptied


def test_a_slightly_fast_engine_is_caught_by_the_day_window():
    rate = 5000000
    hour = OverDeliveryMonitor(60, 60, T0)
    hour.set_limit(allowed_steps(rate, NL_PER_STEP, hour.window_ms))
    day = OverDeliveryMonitor(1440, 60, T0)
    day.set_limit(allowed_steps(rate, NL_PER_STEP, day.window_ms))

    class Both:
        total = 0

        def count(self, now, n):
            hour.count(now, n)
            return day.count(now, n)

    _, _, first = _run(Both(), FakePlan(rate * 10002 // 10000), 2 * DAY_MS)  # 0.02 % fast: 5 steps a day too many
    assert not hour.breached  # 0.2 steps an hour too many: inside the hour window's one-step slack
    assert first is not None and first <= DAY_MS and day.breached


def test_batched_late_delivery_within_late_ms_does_not_trip():
    rate = 50000000  # 2.9 steps/s; deliver them 3 at a time, up to ~1 s late
    mon = OverDeliveryMonitor(60, 60, T0)
    mon.set_limit(allowed_steps(rate, NL_PER_STEP, mon.window_ms, 1100))
    _, peak, first = _run(mon, FakePlan(rate), 6 * 3600000, per_wake=3)
    assert first is None and peak <= mon.limit


def test_window_forgets_old_slots_and_long_gaps():
    mon = OverDeliveryMonitor(1, 10, T0)  # ten slots of a second
    mon.set_limit(100)
    mon.count(T0, 50)
    mon.count(T0 + 5, 30)
    assert mon.total == 80
    mon.count(T0 + 9, 0)
    assert mon.total == 80  # slot 0 is still the oldest in the window
    mon.count(T0 + 10, 0)
    assert mon.total == 30  # slot 0 dropped out
    mon.count(T0 + 10 + 3 * DAY_S, 5)  # days without a call: everything dropped
    assert mon.total == 5 and not mon.breached


def test_idle_time_of_any_length_ages_the_window_exactly():
    # a suspend or a hold of a week, five weeks or years: nothing of before is left in the window, and no step after
    # it is lost (the ticks-based window kept stale counts past 6.2 days and raised false holds)
    for idle_s in (6 * DAY_S, 7 * DAY_S, 35 * DAY_S, 4 * 365 * DAY_S):
        mon = OverDeliveryMonitor(3600, 24, T0)
        mon.set_limit(100)
        mon.count(T0, 90)
        assert not mon.count(T0 + idle_s, 100), idle_s
        assert mon.total == 100 and mon.count(T0 + idle_s + 3599, 1), idle_s


def test_a_window_made_without_a_start_starts_at_second_zero():
    mon = OverDeliveryMonitor(1, 10)
    mon.set_limit(5)
    mon.count(0, 5)
    assert mon.count(10, 1) is False  # slot 0 left the window at second 10


def test_slots_follow_monotonic_seconds_wherever_the_window_was_created():
    mon = OverDeliveryMonitor(60, 60)  # created at monotonic second 0, first used thirty years later
    mon.set_limit(allowed_steps(5000000, NL_PER_STEP, mon.window_ms))
    _, peak, first = _run(mon, FakePlan(5000000), 4 * 3600000, start=T0 + 17)
    assert first is None and peak <= mon.limit and mon.total > 1000


def test_breach_latches_until_cleared_and_a_lower_limit_applies_at_once():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.count(T0, 40)
    assert not mon.breached  # no limit yet
    mon.set_limit(39)
    assert mon.breached
    mon.count(T0 + 60, 0)
    assert mon.total == 0 and mon.breached  # latched
    mon.clear(T0 + 60)
    assert mon.breached is False and mon.total == 0
    assert mon.count(T0 + 60, 0) is False  # a plain bool: the supervisor or's the two windows' answers
    mon.set_limit(-1)
    assert not mon.count(T0 + 61, 1000)
    for bad in (-2, 1.5, 1 << 31):
        with raises(PumpError):
            mon.set_limit(bad)
    with raises(PumpError):
        OverDeliveryMonitor(86400, 13)  # 13 days: window_ms would not be a small int
    with raises(PumpError):
        OverDeliveryMonitor(1, 1)


def test_count_allocates_nothing_up_to_the_last_small_int_second():
    try:
        import micropython
    except ImportError:
        raise SkipTest("no heap lock on CPython")
    # thirty years; and two hours before 34 years of pump time end the small ints (on a whole slot, as T0)
    for start in (T0, S_MAX - 7200 - (S_MAX - 7200) % 60):
        mon = OverDeliveryMonitor(60, 60, start)
        mon.set_limit(100000)
        t = 0
        micropython.heap_lock()
        try:
            while t < 7200000:  # every slot, twice
                mon.count(start + t // 1000, 1)
                t += 1152
        finally:
            micropython.heap_unlock()
        assert 3124 <= mon.total <= 3126 and not mon.breached


def test_a_grant_widens_the_cap_while_running_and_for_one_window_after_its_end():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.set_limit(100)
    mon.grant(30)
    assert mon.cap == 130
    assert not mon.count(T0, 120)
    mon.release(T0 + 2, 30)
    assert mon.cap == 130 and mon.pending == 0
    assert not mon.count(T0 + 9, 10)  # 130 in the window: at the cap, not past it
    mon.count(T0 + 10, 0)  # the first slot (120 steps) left the window
    assert mon.total == 10 and mon.cap == 130
    mon.count(T0 + 12, 0)  # the release slot left too: the allowance is gone
    assert mon.cap == 100
    mon.release(T0 + 12, 5)  # releasing more than was granted adds nothing
    assert mon.cap == 100


def test_a_lower_limit_with_now_lets_the_old_steps_leave_the_window_first():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.set_limit(100)
    assert not mon.count(T0, 90)
    mon.set_limit(20, T0)  # a slower program: the window still holds the old one's steps
    assert not mon.breached and mon.cap == 110  # the 90 old steps, and the new program's 20
    assert not mon.count(T0 + 5, 20)  # the new program's whole allowance while the old steps are in
    mon.count(T0 + 10, 0)  # one window later: the new limit alone
    assert mon.cap == 20 and mon.total == 20
    assert mon.count(T0 + 11, 1)  # and it holds


def test_a_window_straddling_a_heavier_program_holds_both_and_no_more():
    # soak, seed 1: a constant 0.2 mL/day, then a heavier flex program whose light hours are where the old one ran:
    # the last 24 h held 1215 basal steps, above the new program's heaviest 24 h (1209), all as programmed
    mon = OverDeliveryMonitor(2, 10, T0)
    mon.set_limit(50)
    for k in range(9):
        assert not mon.count(T0 + 2 * k, 5)  # 45 old steps, 5 a slot
    mon.set_limit(60, T0 + 18)
    assert not mon.count(T0 + 18, 30)  # the new program's heavy hours: 75 in the window, not a breach
    t = T0 + 20
    new = 30
    while new < 60:  # the old steps leave slot by slot; the new program may still move 60 of its own
        assert not mon.count(t, 2), new
        assert mon.cap - mon.total == 60 - new - 2
        new += 2
        t += 1
    assert mon.count(t, 1)  # its 61st step in the window is one too many


def test_allowed_steps_names_the_bad_argument_and_accepts_the_edges():
    assert allowed_steps(0, 1, 1, 0) == 1
    # 1 nL per ms at 1 nL per step: one step per ms of window and of late delivery (1 s by default), plus one
    assert allowed_steps(DAY_MS, 1, 1000) == 2001
    assert allowed_steps(DAY_MS, 1, 1000, 0) == 1001
    for args, name in (((-1, 200, 1000), "max_nl_per_day"), ((1000, 0, 1000), "nl_per_step"),
                       ((1000, 200, 0), "window_ms"), ((1000, 200, 1000, -1), "late_ms")):
        with raises(PumpError) as e:
            allowed_steps(*args)
        assert e.value.code == E_RANGE and e.value.detail == name, (args, e.value.detail)


def test_window_geometry_edges():
    OverDeliveryMonitor(1, 2)  # the smallest window
    assert OverDeliveryMonitor(536870, 2).window_ms == 1073740000
    assert OverDeliveryMonitor(18199, 59).window_ms == 1073741000  # the longest: window_ms a small int
    for args in ((0, 10), (1000, 1), (536871, 2), (18200, 59)):
        with raises(PumpError) as e:
            OverDeliveryMonitor(*args)
        assert e.value.code == E_RANGE and e.value.detail == "slot_s"


def test_a_zero_limit_refuses_every_step_and_the_limit_itself_is_allowed():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.set_limit(0)
    assert mon.count(T0, 1)
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.count(T0, 3)
    mon.set_limit(0)
    assert mon.breached  # steps already in the window count against a new limit at once
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.count(T0, 5)
    mon.set_limit(5)
    assert not mon.breached  # exactly the limit is allowed
    assert mon.count(T0, 1)


def test_set_limit_range_and_error():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.set_limit(0x3FFFFFFF)  # the largest small int: what the supervisor caps a day's limit to
    for bad in (1 << 30, -2):
        with raises(PumpError) as e:
            mon.set_limit(bad)
        assert e.value.code == E_RANGE and e.value.detail == "max_steps"


def test_the_window_counts_exactly_after_a_gap_longer_than_the_window():
    mon = OverDeliveryMonitor(1, 4, T0)
    mon.count(T0, 7)
    t = T0 + 60  # a minute without a call: everything dropped
    mon.count(t, 2)
    totals = []
    for k in range(1, 6):
        mon.count(t + k, 1)
        totals.append(mon.total)
    # slots of the 4-slot ring after the gap: 2, 1, 1, 1, then the 2 leaves, then the first 1
    assert totals == [3, 4, 5, 4, 4]


def test_bolus_allowances_add_up_and_age_out_exactly():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.set_limit(100)
    mon.grant(30)
    mon.grant(20)  # two boluses running at once: both widen the cap
    assert mon.cap == 150
    mon.release(T0, 30)
    mon.release(T0, 20)  # both ended in the same slot: both allowances stay
    assert mon.cap == 150 and mon.pending == 0
    mon.count(T0 + 1, 0)
    mon.count(T0 + 2, 0)
    # nine slots at once: the release slot leaves the window, then an empty one (the last to leave)
    mon.count(T0 + 11, 0)
    assert mon.cap == 100
    mon.grant(40)
    mon.release(T0 + 11, 40)
    mon.count(T0 + 60, 0)  # a gap longer than the window drops every allowance too
    assert mon.cap == 100
    assert not mon.count(T0 + 60, 100) and mon.count(T0 + 60, 1)


def test_without_a_limit_no_bolus_makes_a_cap():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.grant(10)
    mon.release(T0, 5)
    assert mon.cap == -1 and not mon.count(T0, 1000)


def test_limit_changes_with_and_without_now():
    mon = OverDeliveryMonitor(1, 10, T0)
    mon.set_limit(100)
    mon.set_limit(200, T0)  # a higher limit over an empty window applies as it is
    assert mon.cap == 200
    mon.set_limit(100)
    assert not mon.count(T0, 90)
    mon.set_limit(20, T0)  # a slower program: the 90 steps already in the window stay allowed
    assert mon.cap == 110 and not mon.breached
    mon.set_limit(0, T0)  # down to nothing: still allowed, and not twice
    assert mon.cap == 90 and not mon.breached
    mon.count(T0 + 10, 0)  # they left the window, and their allowance with them
    assert mon.cap == 0 and mon.total == 0
    mon.set_limit(100)
    assert not mon.count(T0 + 10, 90)
    mon.set_limit(20)  # without `now`: the lower limit applies at once
    assert mon.cap == 20 and mon.breached


# ---- across a reset ----


def _building():
    """A window below its hour's bound (slots counting 1 to 9 steps), a bolus running and one ended in it."""
    mon = OverDeliveryMonitor(300, 12, T0)
    mon.set_limit(100)
    mon.grant(20)
    mon.grant(8)
    for k in range(9):
        mon.count(T0 + 300 * k, k + 1)
    mon.release(T0 + 2400, 8)
    return mon


def test_a_restored_window_keeps_its_counts_allowances_and_limit():
    mon = _building()
    head, pending, limit, counts, allowances = mon.saved()
    assert (head, pending, limit) == ((T0 + 2400) // 300, 20, 100)
    assert counts == [0, 0, 0] + list(range(1, 10)) and allowances == [0] * 11 + [8]
    new = OverDeliveryMonitor(300, 12, 0)
    assert new.restore(head, pending, limit, counts, allowances, T0 + 2500)
    # the bolus that was running is not resumed after a reset: its allowance stays one more window, as a release
    assert new.total == 45 and new.pending == 0 and new.cap == 100 + 20 + 8 == mon.cap
    assert new.count(T0 + 2500, 0) is False and new.breached is False
    assert not new.count(T0 + 2500, 83) and new.count(T0 + 2500, 1)  # the building breach is caught as before


def test_a_restored_window_ages_by_the_time_gone_by():
    mon = _building()
    new = OverDeliveryMonitor(300, 12, 0)
    assert new.restore(*(mon.saved() + (T0 + 3600,)))
    assert new.total == 45 - 1  # four slots on: the three empty ones and the one step of the oldest left
    assert new.count(T0 + 3600 + 300, 0) is False and new.total == 45 - 1 - 2  # then the next oldest, 2 steps
    new = OverDeliveryMonitor(300, 12, 0)
    assert new.restore(*(mon.saved() + (T0 + 2 * DAY_S,)))
    assert new.total == 0 and new.cap == 100


def test_a_restored_allowance_leaves_a_window_after_the_checkpoints_slot():
    mon = _building()  # checkpointed in the slot of T0 + 2400 s, where the ended bolus's 8 steps are allowed
    new = OverDeliveryMonitor(300, 12, 0)
    assert new.restore(*(mon.saved() + (T0 + 2400,)))
    new.count(T0 + 2400 + 11 * 300, 0)
    assert new.cap == 128  # the running bolus's 20, released at the checkpoint, and the 8: still in the window
    new.count(T0 + 2400 + 12 * 300, 0)
    assert new.cap == 100


def test_a_record_without_a_bolus_or_a_limit_restores():
    for limit in (-1, 0, 0x3FFFFFFF):
        new = OverDeliveryMonitor(300, 12, 0)
        assert new.restore(T0 // 300, 0, limit, [1] * 12, [0] * 12, T0), limit
        assert new.total == 12 and new.limit == limit


def test_a_record_of_another_window_or_from_the_future_is_not_restored():
    mon = _building()
    head, pending, limit, counts, allowances = mon.saved()
    for args in ((head, pending, limit, counts[1:], allowances[1:], T0 + 2500),  # another window size
                 (head, pending, limit, counts, allowances[1:], T0 + 2500),
                 (head, pending, limit, counts, allowances, T0),  # its head slot is after now
                 (head, -1, limit, counts, allowances, T0 + 2500),
                 (head, pending, -2, counts, allowances, T0 + 2500),
                 (head, pending, 1 << 30, counts, allowances, T0 + 2500)):
        new = OverDeliveryMonitor(300, 12, T0)
        assert not new.restore(*args)
        assert new.total == 0 and new.limit == -1
