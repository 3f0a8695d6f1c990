"""Step timer: exact intervals, deadlines at or just before each exact step time, phase carry, no catch-up."""

from pump.compat import TICKS_MASK, ticks_add, ticks_diff
from pump.steptimer import MS_PER_DAY, StepTimer, gcd, interval_for, upper_approx
from support import raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_START = TICKS_MASK - 2000  # ticks wrap two seconds into every run
_SMALL = 0x3FFFFFFF  # hot-path values must stay below 2**30


def _timer(now, interval):
    t = StepTimer()
    t.set_interval(now, interval)
    return t


def _exact(q, r, n):
    """Interval as num/den ms."""
    return q * n + r, n


def _check_deadlines(timer, start, elapsed0, t_num, t_den, i_num, i_den, count):
    """The next `count` deadlines are floor(T + j*I) ms after `start` (T = t_num/t_den, I = i_num/i_den).

    `elapsed0` is how far `start` lies behind the timer's current deadline's reference (0 when timer was set at start).
    """
    elapsed = elapsed0
    prev = start
    for j in range(count):
        elapsed += ticks_diff(timer.deadline, prev)
        prev = timer.deadline
        num = t_num * i_den + j * i_num * t_den
        den = t_den * i_den
        assert elapsed == num // den, (j, elapsed, num // den)
        assert 0 <= timer._acc < timer._n <= 0x1FFFFFFF
        timer.stepped()
    return elapsed


_RATES = (
    # (rate num, rate den) nL/day, nl_per_step
    (50000000, 1, 200),  # 50 mL/day: 345.6 ms
    (50000000, 1, 1),  # 50 mL/day at 1 nL/step: 1.728 ms
    (34560000, 1, 200),  # exactly 500 ms
    (10000, 1, 200),  # 0.01 mL/day: 1728 s
    (10000, 1, 1),  # 0.01 mL/day at 1 nL/step: 8.64 s
    (4000000000, 9973, 250),  # 4 mg/day at 9973 ug/mL
    (86400013, 7, 170),  # large reduced denominator, still exact
    (123456789, 1000, 333),
)


def test_interval_for_is_exact_and_reduced():
    for num, den, nl in _RATES:
        q, r, n = interval_for(num, den, nl)
        assert 0 <= r < n <= 0x1FFFFFFF
        assert q > 0 or r > 0
        # (q + r/n) ms * num/den nL/day == nl nL * 1 day
        assert (q * n + r) * num == nl * MS_PER_DAY * den * n
        assert gcd(q * n + r, n) == 1


def test_interval_for_zero_and_too_low():
    assert interval_for(0, 1, 200) is None
    assert interval_for(-5, 1, 200) is None
    with raises(ValueError):
        interval_for(1, 1, 200)  # 200 nL at 1 nL/day: 200 days between steps, beyond the ticks horizon
    # the longest interval the ticks horizon allows still works
    q, r, n = interval_for(200 * MS_PER_DAY, 0x1FFFFFFE, 200)
    assert q == 0x1FFFFFFE and r == 0


def test_interval_for_approximates_huge_denominators_from_above():
    num = (1 << 29) + 9  # reduced step-rate numerator above the accumulator's range
    q, r, n = interval_for(num, 1, 1)
    assert 0 <= r < n <= 0x1FFFFFFF
    # exact interval: MS_PER_DAY / num ms; the approximation is never shorter and off by less than 1/2**29 ms
    diff = (q * n + r) * num - MS_PER_DAY * n  # (approx - exact) * n * num
    assert 0 <= diff and diff * 0x1FFFFFFF < n * num


def _lcg(seed):
    while True:
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        yield seed


def test_upper_approx_is_the_best_from_above():
    # brute force over every denominator up to n_max: the smallest fraction >= x
    rnd = _lcg(7)
    for _ in range(300):
        n_max = next(rnd) % 60 + 1
        num = next(rnd) % 100000 + 1
        den = next(rnd) % 100000 + 1
        p, q = upper_approx(num, den, n_max)
        assert q <= n_max and p * den >= num * q
        for qq in range(1, n_max + 1):
            pp = -((-num * qq) // den)  # ceil(x * qq)
            assert p * qq <= pp * q, (num, den, n_max, p, q, pp, qq)
    assert upper_approx(7, 3, 100) == (7, 3)
    assert upper_approx(314159, 100000, 7) == (22, 7)


def test_deadlines_are_floor_of_exact_step_times_across_the_wrap():
    for num, den, nl in _RATES:
        iv = interval_for(num, den, nl)
        i_num, i_den = _exact(*iv)
        count = 3000 if i_num // i_den < 100000 else 300
        t = _timer(_START, iv)
        # a fresh timer owes one whole step: step k at floor(k * I)
        _check_deadlines(t, _START, 0, i_num, i_den, i_num, i_den, count)


def test_many_steps_do_not_drift():
    iv = interval_for(4000000000, 9973, 250)  # 623.3125... ms, remainder carried every step
    i_num, i_den = _exact(*iv)
    t = _timer(_START, iv)
    elapsed = _check_deadlines(t, _START, 0, i_num, i_den, i_num, i_den, 20000)
    assert elapsed == 20000 * i_num // i_den


def test_phase_carry_into_a_whole_ms_interval():
    # 345.6 ms, changed at 100 ms to exactly 500 ms: 245.6/345.6 of a step is still owed, 355.32... ms at 500 ms.
    t = _timer(0, interval_for(50000000, 1, 200))
    assert t.deadline == 345
    t.set_interval(100, interval_for(34560000, 1, 200))
    # exact next step time: 100 + (245.6 / 345.6) * 500 = 100 + 153500/432 ms
    t_num, t_den = 100 * 432 + 153500, 432
    assert t.deadline == t_num // t_den == 455  # not rounded up to the next whole ms (456)
    _check_deadlines(t, 0, 0, t_num, t_den, 500, 1, 50)


def test_phase_carry_exact_for_many_rate_pairs():
    rates = [interval_for(a, b, c) for a, b, c in _RATES if interval_for(a, b, c)[0] < 100000]
    for iv1 in rates:
        for iv2 in rates:
            i1_num, i1_den = _exact(*iv1)
            i2_num, i2_den = _exact(*iv2)
            t = _timer(_START, iv1)
            # 7 steps at the first rate, then change somewhere inside the 8th interval
            for _ in range(7):
                t.stepped()
            t8_num, t8_den = 8 * i1_num, i1_den  # exact time of step 8
            change = (7 * i1_num + i1_num // 3) // i1_den  # a whole ms inside the interval
            now = ticks_add(_START, change)
            t.set_interval(now, iv2)
            # owed fraction f = (T8 - change) / I1; new exact time = change + f * I2
            f_num = t8_num - change * t8_den  # (T8 - change) * t8_den ... over i1_num/i1_den:
            # f = (f_num / t8_den) / (i1_num / i1_den) = f_num * i1_den / (t8_den * i1_num)
            new_num = change * t8_den * i1_num * i2_den + f_num * i1_den * i2_num
            new_den = t8_den * i1_num * i2_den
            g = gcd(new_num, new_den)
            new_num //= g
            new_den //= g
            _check_deadlines(t, _START, 0, new_num, new_den, i2_num, i2_den, 20)


def test_phase_carry_through_many_changes_does_not_accumulate():
    # Alternate two rates 1000 times, each change inside an interval, and compare every step with the exact integral
    # of the rate: rounding the carried phase up to a whole ms at each change would push later steps ever later.
    ivs = (interval_for(50000000, 1, 200), interval_for(34560000, 1, 200))  # 345.6 ms and exactly 500 ms
    t = _timer(0, ivs[0])
    now = 0
    k = 0
    p, q = 0, 1  # exact integral of the rate (steps) up to `now`
    for i in range(1000):
        i_num, i_den = _exact(*ivs[i % 2])
        end = now + 3 * i_num // i_den + 50 + 37 * (i % 5)
        while t.deadline <= end:
            k += 1
            d = t.deadline
            # integral at d: p/q + (d - now) / I
            num = p * i_num + (d - now) * i_den * q
            den = q * i_num
            assert num <= k * den, (i, k)  # not late: just before the step the lag is at most one step
            assert num > (k - 1) * den, (i, k)  # never a step early
            if d + 1 <= end:
                assert num + i_den * q > k * den, (i, k)  # less than 1 ms early
            t.stepped()
        p = p * i_num + (end - now) * i_den * q
        q = q * i_num
        g = gcd(p, q)
        p //= g
        q //= g
        now = end
        t.set_interval(now, ivs[(i + 1) % 2])
    assert k > 3000


def test_stop_then_resume_keeps_the_owed_fraction():
    t = _timer(0, (1000, 0, 1))
    t.set_interval(250, None)  # stopped with 750/1000 of a step owed
    assert not t.running
    assert t.remaining(99999) == (3, 4)
    t.set_interval(10000, (1000, 0, 1))
    assert t.deadline == 10750
    t.set_interval(10000 + 375, None)  # half the interval: 3/8 still owed
    t.set_interval(20000, (400, 0, 1))
    assert t.deadline == 20000 + 150


def test_overdue_step_is_due_at_once_without_catch_up():
    t = _timer(0, (1000, 0, 1))
    assert t.deadline == 1000
    t.set_interval(5500, (1000, 0, 1))  # woke 4.5 intervals late: one step now, then the plain interval
    assert t.deadline == 5500
    t.stepped()
    assert t.deadline == 6500


def test_reset_phase_owes_a_whole_step():
    t = _timer(0, (1000, 0, 1))
    t.reset_phase(300)  # 0.7 of a step owed before; after a reset a whole interval
    assert t.deadline == 1300
    t.set_interval(1000, None)  # stopped with 0.3 owed
    t.reset_phase(1000)
    assert t.remaining(1000) == (1, 1)
    t.set_interval(2000, (1000, 0, 1))
    assert t.deadline == 3000
    # an overdue timer also restarts a whole interval later (no catch-up step)
    t.reset_phase(9000)
    assert t.deadline == 10000


def test_remaining_fraction_while_running():
    t = _timer(0, (1000, 0, 1))
    num, den = t.remaining(250)
    assert num * 4 == den * 3
    num, den = t.remaining(1200)  # overdue
    assert num == 0


def test_hot_path_values_stay_small_ints():
    for num, den, nl in _RATES + (((1 << 29) + 9, 1, 1),):
        t = _timer(_START, interval_for(num, den, nl))
        t.set_interval(ticks_add(_START, 1), interval_for(50000000, 3, 7))
        for _ in range(1000):
            t.stepped()
            for v in (t._acc, t._r, t._n, t._q + 1, t._n - t._r, t.deadline, t._base):
                assert -_SMALL <= v <= _SMALL


def test_phase_within_a_hair_of_a_whole_ms_is_carried_exactly():
    # Rates chosen so that, stopped at ticks 23 and restarted at 30 on a 7644353 ms interval, the owed fraction of a
    # step lands 4e-11 ms before a whole ms: the carried phase rounds up onto that ms (never more than 2**-28 ms).
    t = StepTimer()
    t.set_interval(0, interval_for(7 * 1000003, 3, 200))
    while t.deadline < 8:
        t.stepped()
    t.set_interval(8, interval_for(5 * 999983, 11, 200))
    t.set_interval(23, None)
    num, den = t.remaining(30)
    exact_ms_floor, rest = divmod(num * 7644353, den)
    assert den - rest == 1  # the exact next step is 1/den ms before the next whole ms
    t.set_interval(30, (7644353, 0, 1))
    first = 30 + exact_ms_floor + 1
    assert t.deadline in (first - 1, first)  # at or within one ms of the exact time, never before the ms under it
    deadlines = []
    for _ in range(3):
        t.stepped()
        deadlines.append(t.deadline)
    assert deadlines == [first + k * 7644353 for k in (1, 2, 3)]  # and exact from there on


def test_the_longest_interval_is_just_inside_the_ticks_horizon():
    q, r, n = interval_for(200 * MS_PER_DAY, 0x1FFFFFFE, 200)
    assert (q, r) == (0x1FFFFFFE, 0)
    with raises(ValueError):
        interval_for(200 * MS_PER_DAY, 0x1FFFFFFF, 200)  # 2**29 - 1 ms: the ticks_diff horizon itself
