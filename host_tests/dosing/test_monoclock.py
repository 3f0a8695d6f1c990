"""Monotonic pump clock: whole seconds and ms from ticks across the wrap, never backwards, exact over weeks when it
advances within the ticks horizon, restored at boot from the checkpoint and the gap the RTC vouches for."""

from pump.compat import TICKS_MASK, ticks_add
from pump.monoclock import MAX_CREDIT_MS, MonoClock, boot_times

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

T0 = TICKS_MASK - 1500  # the ticks wrap 1.5 s in
DAY_MS = 86400000


def test_it_counts_seconds_and_ms_across_the_ticks_wrap():
    clock = MonoClock(T0)
    assert (clock.s, clock.ms) == (0, 0)
    clock.advance(ticks_add(T0, 999))
    assert (clock.s, clock.ms) == (0, 999)
    clock.advance(ticks_add(T0, 1000))
    assert (clock.s, clock.ms) == (1, 0)
    clock.advance(ticks_add(T0, 3601))  # across the wrap
    assert (clock.s, clock.ms) == (3, 601)
    assert clock.ms_at(ticks_add(T0, 5000)) == 5000  # read ahead without moving
    assert clock.ms_at(ticks_add(T0, 3000)) == 3000  # or behind (a boundary processed late)
    assert (clock.s, clock.ms) == (3, 601)


def test_it_never_runs_backwards():
    clock = MonoClock(T0, 10000)
    clock.advance(ticks_add(T0, 2500))
    clock.advance(ticks_add(T0, 1000))  # a late caller
    clock.advance(ticks_add(T0, 2500))
    assert (clock.s, clock.ms) == (12, 500)


def test_advancing_at_least_once_per_horizon_keeps_it_exact_for_weeks():
    # the pump wakes at least daily; the ticks wrap every 12.4 days: five weeks, in steps of up to six days
    clock = MonoClock(T0)
    now = T0
    total = 0
    for step in (1, 6 * DAY_MS, 0x1FFFFFFF, 999, DAY_MS + 1, 5 * DAY_MS + 3, 0x1FFFFFFF, 7):
        now = ticks_add(now, step)
        total += step
        clock.advance(now)
        assert clock.s * 1000 + clock.ms == total
    assert total > 35 * DAY_MS // 2


def test_a_clock_made_without_ticks_starts_at_ticks_zero():
    clock = MonoClock()
    clock.advance(1000)
    assert (clock.s, clock.ms) == (1, 0)


def test_restore_sets_seconds_and_ms():
    clock = MonoClock(T0)
    clock.set_ms(((1 << 30) - 1) * 1000 + 999, T0)  # the last small-int second
    assert (clock.s, clock.ms) == ((1 << 30) - 1, 999)
    clock.advance(ticks_add(T0, 1))
    assert (clock.s, clock.ms) == (1 << 30, 0)  # (a big int from here on: 34 years of pump time)


def test_boot_counts_the_gap_the_rtc_vouches_for():
    saved_wall, saved_mono = 839000000000, 123456789
    # the RTC ran on: wall and monotonic time move together
    assert boot_times(saved_wall + 60500, saved_wall, saved_mono) == (saved_wall + 60500, saved_mono + 60500)
    # the RTC lost power (reads 2000-01-01) or ran slow: both resume from the checkpoint
    assert boot_times(0, saved_wall, saved_mono) == (saved_wall, saved_mono)
    assert boot_times(saved_wall - 1, saved_wall, saved_mono) == (saved_wall, saved_mono)
    assert boot_times(saved_wall, saved_wall, saved_mono) == (saved_wall, saved_mono)
    # far ahead (off for long, or a faulty RTC): the calendar follows it, the limits see two days at most
    assert boot_times(saved_wall + 365 * DAY_MS, saved_wall, saved_mono) == (
        saved_wall + 365 * DAY_MS, saved_mono + MAX_CREDIT_MS)
    assert MAX_CREDIT_MS == 2 * DAY_MS
    assert boot_times(saved_wall + MAX_CREDIT_MS, saved_wall, saved_mono)[1] == saved_mono + MAX_CREDIT_MS


def test_boot_after_a_clock_setting_stopped_midway_takes_the_saved_time():
    saved_wall, saved_mono = 839000000000, 5000
    for rtc in (saved_wall + DAY_MS, saved_wall - DAY_MS, saved_wall + 1000):  # new, old or any time in the RTC
        assert boot_times(rtc, saved_wall, saved_mono, rtc_trusted=False) == (saved_wall, saved_mono)
