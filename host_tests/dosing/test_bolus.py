"""Patient bolus policy on monotonic seconds: lockout to the second, rolling 24-hour maximum, disabled bolus, a grant
time ahead of the clock (a corrupt record), bounded memory, and 34 years of pump time in small ints."""

from pump.bolus import MAX_GRANTS, PatientBolusPolicy
from pump.errors import E_DAILY_MAX, E_LOCKOUT, E_NO_BOLUS
from pump.therapy import PatientBolus

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_T0 = 30 * 365 * 86400  # thirty years of pump time, in monotonic seconds


def _pb(lockout_min=60, max_per_day=4):
    return PatientBolus(100000, 600000, lockout_min * 60000, max_per_day)


def test_no_bolus_programmed():
    p = PatientBolusPolicy()
    assert p.check(_T0, None) == E_NO_BOLUS
    assert p.check(_T0, _pb(max_per_day=0)) == E_NO_BOLUS


def test_lockout_ends_exactly_after_the_interval():
    p = PatientBolusPolicy()
    pb = _pb(lockout_min=60)
    assert p.check(_T0, pb) == 0
    p.grant(_T0)
    assert p.check(_T0 + 1, pb) == E_LOCKOUT
    assert p.check(_T0 + 3599, pb) == E_LOCKOUT
    assert p.check(_T0 + 3600, pb) == 0


def test_rolling_daily_maximum():
    p = PatientBolusPolicy()
    pb = _pb(lockout_min=0, max_per_day=3)
    for i in range(3):
        assert p.check(_T0 + 3600 * i, pb) == 0
        p.grant(_T0 + 3600 * i)
    assert p.check(_T0 + 3 * 3600, pb) == E_DAILY_MAX
    assert p.check(_T0 + 86399, pb) == E_DAILY_MAX  # the first grant is 23:59:59 old
    assert p.check(_T0 + 86400, pb) == 0  # 24 h after the first grant it no longer counts
    assert p.check(_T0 + 86400 + 3599, pb) == 0
    p.grant(_T0 + 86400 + 3599)
    assert p.check(_T0 + 86400 + 3599, pb) == E_DAILY_MAX  # grants at +1 h, +2 h and now
    assert p.check(_T0 + 86400 + 3600, pb) == 0  # the +1 h grant is a day old


def test_grant_ahead_of_the_clock_counts_as_recent():
    # a monotonic clock never gives one; a corrupt record might: the grant stays recent (lockout), never forgotten
    p = PatientBolusPolicy()
    pb = _pb(lockout_min=60)
    p.grant(_T0)
    assert p.check(_T0 - 7200, pb) == E_LOCKOUT
    assert p.check(_T0 - 7200, _pb(lockout_min=0, max_per_day=4)) == E_LOCKOUT  # even without a lockout


def test_memory_is_bounded():
    p = PatientBolusPolicy()
    for i in range(MAX_GRANTS + 20):
        p.grant(_T0 + i)
    assert len(p.grants_mono_s) == MAX_GRANTS
    assert p.grants_mono_s[0] == _T0 + 20 and p.grants_mono_s[-1] == _T0 + MAX_GRANTS + 19  # the oldest went
    pb = _pb(lockout_min=0, max_per_day=48)
    assert p.check(_T0 + 100, pb) == E_DAILY_MAX
    p.grant(_T0 + 86400 * 2)  # the old ones are forgotten
    assert p.grants_mono_s == [_T0 + 86400 * 2]


def test_the_last_small_int_second_still_counts():
    # 2**30 - 1 s of pump time (34 years): the limits work to the end of the boards' small ints
    p = PatientBolusPolicy()
    pb = _pb(lockout_min=60, max_per_day=2)
    last = (1 << 30) - 1
    p.grant(last - 86400)
    p.grant(last - 3600)
    assert p.check(last - 1, pb) == E_LOCKOUT
    assert p.check(last, pb) == 0  # the first grant is a day old, the second an hour
