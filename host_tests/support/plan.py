"""The exact reference a dose plan is checked against (integer cross-multiplication) and a driver that wakes a plan at
every deadline: `Ideal`, `check_steps`, `drive`, the rates and the test clock's starting points.

Checked at every step instant t_k (k-th step): integral(t_k) <= k (just before the step the pump is at most one step
behind), integral(t_k) > k - 1 (never a step early) and k - integral(t_k) < max rate * 1 ms (a step fires at the
whole ms at or just before its exact time). Ticks start near the 2**30 wrap.
"""

from pump.calendar import days_from_civil
from pump.compat import TICKS_MASK, ticks_add, ticks_diff
from pump.doseplan import DosePlan
from pump.steptimer import gcd
from pump.therapy import MODE_CONSTANT, MODE_FLEX, Therapy

DAY_MS = 86400000
HOUR_MS = 3600000
START = TICKS_MASK - 600000  # ticks wrap ten minutes into every run
PRIME_NL_PER_DAY = 36000000
MONDAY_S = days_from_civil(2026, 8, 3) * 86400  # wall seconds of Monday 2026-08-03 00:00



def frac_add(a, b):
    num = a[0] * b[1] + b[0] * a[1]
    den = a[1] * b[1]
    g = gcd(num, den) or 1
    return num // g, den // g


def dose_rate(dose_ng_per_day, conc_ug_per_ml):
    """Volume rate (num, den) nL/day of a dose rate at a concentration."""
    return dose_ng_per_day * 1000, conc_ug_per_ml


def bolus_rate(dose_ng, duration_ms, conc_ug_per_ml):
    """Volume rate (num, den) nL/day while a bolus runs."""
    return dose_ng * 1000 * DAY_MS, conc_ug_per_ml * duration_ms


class Ideal:
    """Exact integral, in steps, of a piecewise-constant volume rate set with `rate(t_ms, (num, den))` in time order."""

    def __init__(self, nl_per_step, rate=(0, 1)):
        self.unit = nl_per_step * DAY_MS
        self.segs = [(0, rate[0], rate[1])]
        self.max_rate = rate

    def rate(self, t_ms, rate):
        if self.segs[-1][0] == t_ms:
            self.segs.pop()
        assert not self.segs or self.segs[-1][0] < t_ms
        self.segs.append((t_ms, rate[0], rate[1]))
        if rate[0] * self.max_rate[1] > self.max_rate[0] * rate[1]:
            self.max_rate = rate

    def at(self, times):
        """The integral (num, den) at each of the non-decreasing `times`."""
        out = []
        segs = self.segs
        unit = self.unit
        i = 0
        p, q = 0, 1  # integral at segs[i][0]
        for t in times:
            while i + 1 < len(segs) and segs[i + 1][0] <= t:
                s0, a, b = segs[i]
                p, q = p * b * unit + a * (segs[i + 1][0] - s0) * q, q * b * unit
                g = gcd(p, q) or 1
                p //= g
                q //= g
                i += 1
            s0, a, b = segs[i]
            out.append((p * b * unit + a * (t - s0) * q, q * b * unit))
        return out


def check_steps(steps, ideal, end_ms=None):
    """Every step (sorted list of ms) against the exact integral; with end_ms, no step is missing at the end."""
    r_num, r_den = ideal.max_rate
    unit = ideal.unit
    for k, (num, den) in enumerate(ideal.at(steps), 1):
        assert num <= k * den, ("late", k, steps[k - 1])
        assert num > (k - 1) * den, ("a step early", k, steps[k - 1])
        # k - integral < max rate * 1 ms (in steps: r_num / (r_den * unit))
        assert (k * den - num) * r_den * unit < den * r_num, ("early", k, steps[k - 1])
    if end_ms is not None:
        num, den = ideal.at([end_ms])[0]
        assert num < (len(steps) + 1) * den, ("missing steps at the end", len(steps))


def drive(plan, until_ms, actions=(), start=START, limit=1, on_step=None):
    """Wake at every deadline up to `until_ms` after `start` (event-driven); returns the ms of every step.

    `actions` is a sorted list of (t_ms, fn): fn(now_ticks, t_ms) runs at t_ms, after the steps due at that ms.
    `on_step(t_ms, plan)` runs after every wake that delivered steps.
    """
    steps = []
    now = start
    t = 0
    ai = 0
    while True:
        dt = ticks_diff(plan.next_deadline(), now)
        assert 0 <= dt <= DAY_MS  # never in the past, at least daily
        if ai < len(actions) and actions[ai][0] < t + dt:
            ta, fn = actions[ai]
            now = ticks_add(now, ta - t)
            t = ta
            fn(now, t)
            ai += 1
            continue
        if t + dt > until_ms:
            break
        now = plan.next_deadline()
        t += dt
        n = plan.take_due(now, limit)
        for _ in range(n):
            steps.append(t)
        if n and on_step is not None:
            on_step(t, plan)
    return steps


def ended(plan):
    """(kind, dose_ng) of the boluses the plan reports ended."""
    return [(b.kind, b.dose_ng) for b in plan.finished]


def granted(plan):
    """The over-delivery allowance each ended bolus carried back (steps)."""
    return [b.steps for b in plan.finished]


def therapy(daily, conc, periodic=(), weekly=None, mode=None):
    """A Therapy built directly (no drug library): `daily` is ((start_ms, dose_ng_per_day), ...)."""
    if mode is None:
        mode = MODE_CONSTANT if len(daily) == 1 else MODE_FLEX
    return Therapy("test", conc, mode, tuple(daily), weekly, None, tuple(periodic), False)


def plan_for(th, nl_per_step, wall_s=MONDAY_S, start=START, conc=None):
    plan = DosePlan(nl_per_step, PRIME_NL_PER_DAY, wall_s, start)
    plan.set_therapy(start, th, th.conc_ug_per_ml if conc is None else conc)
    return plan


def schedule_ideal(ideal, daily_by_weekday, conc, wall_s, until_ms, weekday0):
    """Rate segments of a basal schedule from wall time wall_s (weekday0 = weekday of wall_s's day) to until_ms."""
    ms0 = (wall_s % 86400) * 1000
    t = -ms0  # ms (relative to the start) of the current day's midnight
    day = 0
    while t <= until_ms:
        for start_ms, dose in daily_by_weekday[(weekday0 + day) % 7]:
            at = t + start_ms
            if at <= 0:
                ideal.rate(0, dose_rate(dose, conc))  # the step in force at the start
            elif at <= until_ms:
                ideal.rate(at, dose_rate(dose, conc))
        t += DAY_MS
        day += 1
    return ideal
