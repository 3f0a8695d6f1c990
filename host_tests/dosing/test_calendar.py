"""Calendar: wall clock kept from wrapping ticks, weekdays, and the civil-date conversions (checked day by day)."""

from pump.calendar import MS_PER_DAY, Calendar, civil_from_days, days_from_civil, iso_date
from pump.compat import TICKS_MASK, ticks_add
from support import raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_START = TICKS_MASK - 5000
_MONDAY_S = 839030400  # 2026-08-03 00:00, seconds since 2000-01-01


def test_set_wall_clock():
    cal = Calendar(_MONDAY_S + 3723, _START)  # 01:02:03
    assert cal.day == _MONDAY_S // 86400
    assert cal.ms_of_day == 3723000
    assert cal.weekday == 0
    assert cal.wall_s_at(_START) == _MONDAY_S + 3723
    cal.set_wall_ms(_MONDAY_S * 1000 + 86399999, _START)
    assert (cal.day, cal.ms_of_day) == (_MONDAY_S // 86400, 86399999)
    cal.set_wall_s(0, _START)
    assert (cal.day, cal.ms_of_day, cal.weekday) == (0, 0, 5)  # 2000-01-01 was a Saturday
    with raises(ValueError):
        cal.set_wall_s(-1, _START)
    with raises(ValueError):
        cal.set_wall_ms(-1, _START)


def test_weekdays_follow_the_days():
    cal = Calendar(_MONDAY_S, _START)
    now = _START
    for i in range(15):
        assert cal.weekday == i % 7
        now = ticks_add(now, MS_PER_DAY)
        cal.sync(now)


def test_sync_across_the_ticks_wrap_matches_absolute_time():
    cal = Calendar(_MONDAY_S + 86399, _START)  # one second before midnight
    now = _START
    total = 86399000
    for dt in (1, 999, 1, 5000, 3600000, 86400000, 0x1FFFFFFF, 12345, MS_PER_DAY - 1, 7):
        now = ticks_add(now, dt)
        total += dt
        cal.sync(now)
        assert cal.day == _MONDAY_S // 86400 + total // MS_PER_DAY
        assert cal.ms_of_day == total % MS_PER_DAY
        assert cal.wall_s_at(now) == _MONDAY_S + total // 1000


def test_sync_never_runs_backwards():
    cal = Calendar(_MONDAY_S + 3600, _START)
    later = ticks_add(_START, 60000)
    cal.sync(later)
    cal.sync(_START)  # an older time: ignored
    assert cal.ms_of_day == 3660000
    cal.sync(later)
    assert cal.ms_of_day == 3660000


def test_reading_ahead_does_not_move_the_calendar():
    cal = Calendar(_MONDAY_S + 86399, _START)
    later = ticks_add(_START, 3601000)
    assert cal.at(later) == (_MONDAY_S // 86400 + 1, 3600000)
    assert cal.wall_s_at(later) == _MONDAY_S + 86400 + 3600
    assert cal.at(ticks_add(_START, -5000)) == (_MONDAY_S // 86400, 86399000)  # never before the last sync
    assert (cal.day, cal.ms_of_day, cal.ref_ticks) == (_MONDAY_S // 86400, 86399000, _START)


def test_ticks_at_ms_of_day():
    cal = Calendar(_MONDAY_S + 23 * 3600, _START)  # 23:00
    assert cal.ticks_at_ms_of_day(0, 1) == ticks_add(_START, 3600000)  # next midnight, across the wrap
    assert cal.ticks_at_ms_of_day(22 * 3600000) == ticks_add(_START, -3600000)


def test_known_dates():
    assert days_from_civil(2000, 1, 1) == 0
    assert days_from_civil(1999, 12, 31) == -1
    assert days_from_civil(2000, 2, 29) == 59
    assert days_from_civil(2000, 3, 1) == 60
    assert civil_from_days(days_from_civil(2100, 2, 28) + 1) == (2100, 3, 1)  # 2100 is not a leap year
    assert civil_from_days(days_from_civil(2400, 2, 28) + 1) == (2400, 2, 29)  # 2400 is
    assert days_from_civil(2026, 8, 3) * 86400 == _MONDAY_S
    assert iso_date(0) == "2000-01-01"
    assert iso_date(_MONDAY_S // 86400) == "2026-08-03"


def _month_days(y, m):
    if m == 2:
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


def _walk(y, m, d, until_year):
    # every day from y-m-d to the end of until_year - 1, each one checked in both directions
    day = days_from_civil(y, m, d)
    while y < until_year:
        assert civil_from_days(day) == (y, m, d), (day, y, m, d)
        assert days_from_civil(y, m, d) == day
        day += 1
        d += 1
        if d > _month_days(y, m):
            d = 1
            m += 1
            if m > 12:
                m = 1
                y += 1
    return day


def test_civil_dates_day_by_day():
    # the years the pump will see, the century rule (2100) and the 400-year rule (2000, 2400)
    assert _walk(1999, 12, 1, 2061) == days_from_civil(2061, 1, 1)
    _walk(2099, 1, 1, 2102)
    _walk(2399, 1, 1, 2402)
