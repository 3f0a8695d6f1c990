"""Patient bolus policy: lockout to the ms, rolling 24-hour maximum, disabled bolus, clock set back, bounded memory."""

from pump.bolus import MAX_GRANTS, PatientBolusPolicy
from pump.errors import E_DAILY_MAX, E_LOCKOUT, E_NO_BOLUS
from pump.therapy import PatientBolus

_T0 = 839030400


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


def test_grant_in_the_future_counts_as_recent():
    # the clock was set back after a grant: the grant stays recent (lockout) instead of being forgotten
    p = PatientBolusPolicy()
    pb = _pb(lockout_min=60)
    p.grant(_T0)
    assert p.check(_T0 - 7200, pb) == E_LOCKOUT
    assert p.check(_T0 - 7200, _pb(lockout_min=0, max_per_day=4)) == E_LOCKOUT  # even without a lockout


def test_memory_is_bounded():
    p = PatientBolusPolicy()
    for i in range(MAX_GRANTS + 20):
        p.grant(_T0 + i)
    assert len(p.grants_s) == MAX_GRANTS
    assert p.grants_s[-1] == _T0 + MAX_GRANTS + 19
    pb = _pb(lockout_min=0, max_per_day=48)
    assert p.check(_T0 + 100, pb) == E_DAILY_MAX
    p.grant(_T0 + 86400 * 2)  # the old ones are forgotten
    assert p.grants_s == [_T0 + 86400 * 2]
