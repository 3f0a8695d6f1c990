"""Exact step deadlines for one constant rate: integer interval plus a carried remainder, no float, no drift.

A rate is turned (cold path, big ints allowed) into an interval of `q + r/n` ms per step with `n < 2**30`. The hot
path only adds `q` and carries `r` into an accumulator below `n`. A step fires at the whole ms at or just before its
exact time (the tick cannot be finer), so delivered steps never lag the exact integral of the rate by more than one
step, and lead it by at most the rate times 1 ms (under 0.003 steps at 50 mL/day).
When the rate changes, the fraction of a step already accumulated is carried into the new rate (phase carry).
"""

from pump.compat import const, ticks_add, ticks_diff

_N_MAX = const(0x1FFFFFFF)  # largest remainder denominator: every hot-path sum stays below 2**30
_INTERVAL_MAX_MS = const(0x1FFFFFFF)  # ticks_diff horizon (2**29 ms, about 6.2 days)
MS_PER_DAY = const(86400000)


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def upper_approx(num, den, n_max):
    """(p, q): the smallest fraction p/q >= num/den (> 0) with q <= n_max, from the continued fraction (cold path).

    An upper convergent or semiconvergent: its error is at most 1/n_max (as ceil(num * n_max / den) / n_max) and
    usually many orders of magnitude less.
    """
    h2, k2, h1, k1 = 0, 1, 1, 0  # the convergents before the current one: h2/k2 (index i-2) and h1/k1 (i-1)
    i = 0
    while True:
        a, rem = num // den, num % den
        h, k = a * h1 + h2, a * k1 + k2
        if k > n_max:
            if i & 1:  # an upper convergent: the best upper semiconvergent that still fits
                t = (n_max - k2) // k1
                return (h2 + t * h1, k2 + t * k1) if t else (h2, k2)
            return h1, k1  # a lower convergent: the upper one before it is the best
        if rem == 0:
            return h, k
        num, den = den, rem
        h2, k2, h1, k1 = h1, k1, h, k
        i += 1


def interval_for(rate_num_nl_per_day, rate_den, nl_per_step):
    """Interval between steps (q_ms, r, n) for a volume rate of num/den nL/day; rounds towards a longer interval.

    Exact when the reduced step rate has a numerator below 2**29, else the closest longer interval with such a
    denominator (see upper_approx). Returns None for a zero rate.
    """
    if rate_num_nl_per_day <= 0:
        return None
    # interval_ms = nl_per_step * MS_PER_DAY * den / num
    top = nl_per_step * MS_PER_DAY * rate_den
    bottom = rate_num_nl_per_day
    g = gcd(top, bottom)
    top //= g
    bottom //= g
    if bottom > _N_MAX:
        # never shorter than exact; plain ceil(top * N / bottom) / N drifts by up to 2**-29 ms per step, enough to
        # put fast steps more than one step behind within hours
        top, bottom = upper_approx(top, bottom, _N_MAX)
    q, r = top // bottom, top % bottom  # not divmod: its results stay big ints (pump.compat)
    if q >= _INTERVAL_MAX_MS:
        raise ValueError("rate too low for the ticks horizon")
    return q, r, bottom


class StepTimer:
    """Step deadlines at one rate; `deadline` is a ticks value, valid while `running`."""

    def __init__(self):
        self.running = False
        self.deadline = 0
        self._base = 0  # floor of the exact next-step time (ticks): the deadline
        self._acc = 0  # exact next-step time = _base + _acc / _n ms, 0 <= _acc < _n
        self._q = 0
        self._r = 0
        self._n = 1
        # remaining fraction of a step (num/den) while stopped; a fresh timer owes a whole step
        self._pend_num = 1
        self._pend_den = 1

    def stepped(self):
        """Move to the next deadline after a step was delivered (hot path: small ints, no allocation)."""
        acc = self._acc
        gap = self._n - self._r
        if acc >= gap:
            self._acc = acc - gap
            self._base = ticks_add(self._base, self._q + 1)
        else:
            self._acc = acc + self._r
            self._base = ticks_add(self._base, self._q)
        self.deadline = self._base

    def remaining(self, now):
        """Fraction of a step still owed before the next step, as (num, den); cold path."""
        if not self.running:
            return self._pend_num, self._pend_den
        owed_ms_num = ticks_diff(self._base, now) * self._n + self._acc  # ms * n until the exact step time
        if owed_ms_num < 0:
            owed_ms_num = 0  # overdue: the next step is owed in full, deliver it now
        return owed_ms_num, self._q * self._n + self._r

    def set_interval(self, now, interval):
        """Switch to `interval` (from interval_for, or None to stop) at ticks `now`, carrying the phase."""
        num, den = self.remaining(now)
        if interval is None:
            g = gcd(num, den) or 1
            self._pend_num = num // g
            self._pend_den = den // g
            self.running = False
            return
        q, r, n = interval
        # Count the sub-ms phase in the finest unit that keeps the hot path small (1/n ms with n scaled near 2**29, the
        # same interval): rounding the carried phase to a coarse 1/n (a whole ms when the interval is) would move every
        # rate change's next step by up to 1 ms, and those errors would add up over the changes.
        m = _N_MAX // n
        r *= m
        n *= m
        # owed time in the new rate = (num/den) * (q + r/n) ms = num * (q*n + r) / (den * n)
        top = num * (q * n + r)
        bottom = den * n
        whole, frac = top // bottom, top % bottom
        acc = -((-frac * n) // bottom)  # round up to the next 1/n ms (< 2**-28 ms): an exact whole ms stays exact
        if acc >= n:
            whole += 1
            acc = 0
        self._q = q
        self._r = r
        self._n = n
        self._base = ticks_add(now, whole)
        self._acc = acc
        self.deadline = self._base
        self.running = True

    def reset_phase(self, now):
        """Forget any accumulated fraction: the next step is owed in full (used after a reset: no catch-up)."""
        self._pend_num = 1
        self._pend_den = 1
        if self.running:
            interval = (self._q, self._r, self._n)
            self.running = False
            self.set_interval(now, interval)
