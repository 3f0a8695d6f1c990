"""Dose plan against an exact Fraction reference: random rates, schedules, boluses, suspends, refills, priming
(hypothesis), and year-long constant and flex runs.

The reference integrates the programmed volume rate with Python's Fractions and a calendar of its own (datetime for
weekdays), independent of lib/pump. At every step instant t_k of the k-th step it requires:
  just before the step:  |(k - 1) - ideal(t_k)| <= 1      (never more than one step behind)
  just after the step:   |k - ideal(t_k)| <= 1, and k <= ceil(ideal(t_k))     (never a step early)
  and k - ideal(t_k) < (fastest rate) x 1 ms              (a step fires at the whole ms at or before its exact time)
and at the end of a run ideal(end) - delivered < 1. Ticks start at random points, most of them close to the wrap.
"""

import datetime
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pump.compat import TICKS_MASK, ticks_add
from pump.doseplan import KIND_CLINICIAN, KIND_PERIODIC, DosePlan
from pump.steptimer import interval_for
from pump.therapy import MODE_FLEX, Therapy
from support.plan import PRIME_NL_PER_DAY, drive


DAY_MS = 86400000
EPOCH = datetime.date(2000, 1, 1)
_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Reference:
    """Exact volume rate (Fraction nL/day) as segments in time (ms after the start), integrated in steps."""

    def __init__(self, nl_per_step):
        self.unit = nl_per_step * DAY_MS
        self.segs = [(0, Fraction(0))]

    def set(self, t_ms, rate):
        last = self.segs[-1][0]
        assert t_ms >= last, "segments must come in time order"
        if t_ms == last:
            self.segs[-1] = (t_ms, Fraction(rate))
        else:
            self.segs.append((t_ms, Fraction(rate)))

    def ideal(self, t_ms):
        total = Fraction(0)
        for i, (s, rate) in enumerate(self.segs):
            end = self.segs[i + 1][0] if i + 1 < len(self.segs) else None
            if s >= t_ms:
                break
            total += rate * ((min(t_ms, end) if end is not None else t_ms) - s) / self.unit
        return total

    def check(self, steps, end_ms):
        """The step list (ms, sorted) against the integral; returns the largest lag (steps) seen."""
        unit = self.unit
        fastest = max(rate for _, rate in self.segs)
        segs = self.segs
        i = 0
        at_seg = Fraction(0)  # integral at segs[i][0]
        worst = Fraction(0)
        for k, t in enumerate(steps, 1):
            while i + 1 < len(segs) and segs[i + 1][0] <= t:
                at_seg += segs[i][1] * (segs[i + 1][0] - segs[i][0]) / unit
                i += 1
            s, rate = segs[i]
            # ideal = at_seg + rate * (t - s) / unit, compared in integers
            a, b = rate.numerator, rate.denominator
            p, q = at_seg.numerator, at_seg.denominator
            num = p * b * unit + a * q * (t - s)
            den = q * b * unit
            assert num <= k * den, ("more than one step behind just before step", k, t)
            assert num > (k - 1) * den, ("a step early", k, t)
            assert (k * den - num) * unit * fastest.denominator < den * fastest.numerator, ("early by over 1 ms", k, t)
            lag = Fraction(num - (k - 1) * den, den)
            if lag > worst:
                worst = lag
        assert self.ideal(end_ms) < len(steps) + 1, "steps missing at the end"
        return worst


def _weekday(wall_ms, t_ms):
    return (EPOCH + datetime.timedelta(milliseconds=wall_ms + t_ms)).weekday()


def schedule_reference(ref, schedule_by_weekday, conc, wall_ms, until_ms, extra=()):
    """Basal schedule segments (and `extra` = [(t_ms, delta_rate)] from boluses) from wall_ms to until_ms."""
    changes = {}  # t -> basal rate
    midnight = -(wall_ms % DAY_MS)
    while midnight <= until_ms:
        sched = schedule_by_weekday[_weekday(wall_ms, midnight)]
        for start, dose in sched:
            t = midnight + start
            if t <= 0:
                changes[0] = Fraction(dose * 1000, conc)
            elif t <= until_ms:
                changes[t] = Fraction(dose * 1000, conc)
        midnight += DAY_MS
    deltas = {}
    for t, d in extra:
        deltas[t] = deltas.get(t, 0) + d
    basal = Fraction(0)
    bolus = Fraction(0)
    for t in sorted(set(changes) | set(deltas)):
        if t in changes:
            basal = changes[t]
        bolus += deltas.get(t, 0)
        ref.set(t, basal + bolus)
    return ref


def _therapy(sched, conc, weekly=None, periodic=()):
    return Therapy("test", conc, 1 if len(sched) == 1 and weekly is None else MODE_FLEX, tuple(sched), weekly, None,
                   tuple(periodic), False)


def _plan(th, nl, wall_s, start):
    plan = DosePlan(nl, PRIME_NL_PER_DAY, wall_s, start)
    plan.set_therapy(start, th, th.conc_ug_per_ml)
    return plan


# ---- strategies ----

_start_ticks = st.one_of(st.integers(TICKS_MASK - 3600000, TICKS_MASK), st.integers(0, TICKS_MASK))
_wall_s = st.integers(0, 40 * 365 * 86400)
_nl = st.sampled_from([1, 7, 37, 100, 170, 200, 250, 333, 1000, 4096])
_conc = st.one_of(st.sampled_from([1000, 10000, 25000]), st.integers(100, 30000))


@st.composite
def _constant(draw):
    nl = draw(_nl)
    conc = draw(_conc)
    lo = max(10000, nl * 2) * conc  # at least 0.01 mL/day and two steps a day (dose * 1000 >= rate * conc)
    hi = 50000000 * conc
    dose = draw(st.integers(-(-lo // 1000), hi // 1000))
    return nl, conc, dose


# ---- properties ----


@_SETTINGS
@given(_constant(), _start_ticks, _wall_s)
def test_constant_rate_exact(case, start, wall_s):
    nl, conc, dose = case
    steps_per_day = dose * 1000 // (conc * nl)
    until = min(3 * DAY_MS, max(1000, 600 * DAY_MS // max(steps_per_day, 1)))
    plan = _plan(_therapy(((0, dose),), conc), nl, wall_s, start)
    steps = drive(plan, until, start=start)
    ref = Reference(nl)
    ref.set(0, Fraction(dose * 1000, conc))
    ref.check(steps, until)


@st.composite
def _flex(draw):
    nl = draw(st.sampled_from([100, 200, 250, 1000]))
    conc = draw(st.sampled_from([1000, 9973, 10000, 25000]))
    n = draw(st.integers(1, 6))
    minutes = sorted(draw(st.sets(st.integers(1, 1439), min_size=n - 1, max_size=n - 1)))
    starts = [0] + [m * 60000 for m in minutes]
    # 0 or 0.01..5 mL/day per step
    doses = [draw(st.one_of(st.just(0), st.integers(10 * conc, 5000 * conc))) for _ in starts]
    return nl, conc, tuple(zip(starts, doses))


@_SETTINGS
@given(_flex(), _start_ticks, _wall_s)
def test_flex_schedule_exact(case, start, wall_s):
    nl, conc, sched = case
    plan = _plan(_therapy(sched, conc), nl, wall_s, start)
    until = 2 * DAY_MS
    steps = drive(plan, until, start=start)
    ref = schedule_reference(Reference(nl), [sched] * 7, conc, wall_s * 1000, until)
    ref.check(steps, until)


@st.composite
def _commands(draw):
    """Times (ms, increasing) and commands: bolus, suspend, resume, new basal rate, cap."""
    kinds = st.sampled_from(["bolus", "bolus", "suspend", "resume", "rate", "cap", "uncap"])
    n = draw(st.integers(1, 8))
    times = sorted(draw(st.sets(st.integers(1, 4 * 3600000), min_size=n, max_size=n)))
    out = []
    for t in times:
        kind = draw(kinds)
        if kind == "bolus":
            arg = (draw(st.integers(10000, 500000)), draw(st.integers(1, 240)) * 60000)
        elif kind == "rate":
            arg = draw(st.integers(100000, 20000000))
        elif kind == "cap":
            arg = draw(st.one_of(st.just(0), st.integers(10000, 3000000)))  # 0 or a rate the config allows
        else:
            arg = None
        out.append((t, kind, arg))
    return out


@_SETTINGS
@given(st.integers(200000, 20000000), st.sampled_from([1000, 10000, 9973]), st.sampled_from([100, 200, 250]),
       _commands(), _start_ticks)
def test_commands_keep_delivery_exact(dose, conc, nl, commands, start):
    plan = _plan(_therapy(((0, dose),), conc), nl, 0, start)
    until = 6 * 3600000
    # the reference's own state machine
    state = {"running": True, "basal": Fraction(dose * 1000, conc), "boluses": [], "cap": None}
    ref = Reference(nl)
    events = []  # (t, fn) for the plan; the reference replays the same commands below

    def rate_at(t):
        if not state["running"]:
            return Fraction(0)
        r = state["basal"] + sum(b for end, b in state["boluses"] if end > t)
        if state["cap"] is not None and r > state["cap"]:
            r = Fraction(state["cap"])
        return r

    for t, kind, arg in commands:
        if kind == "bolus":

            def act(now, t, arg=arg):
                if plan.running:  # as the controller does: no bolus unless therapy runs
                    plan.start_bolus(now, KIND_CLINICIAN, arg[0], arg[1])

        elif kind == "suspend":

            def act(now, t):
                plan.suspend(now)

        elif kind == "resume":

            def act(now, t):
                plan.resume(now)

        elif kind == "rate":

            def act(now, t, arg=arg):
                plan.set_therapy(now, _therapy(((0, arg),), conc), conc, plan.running)

        elif kind == "cap":

            def act(now, t, arg=arg):
                plan.set_cap(now, arg)

        else:

            def act(now, t):
                plan.set_cap(now, -1)

        events.append((t, act))
    steps = drive(plan, until, events, start=start)
    # replay the commands on the reference, bolus ends as change points of their own
    ref.set(0, rate_at(0))
    ends = []
    for t, kind, arg in commands:
        for e in sorted(ends):
            if e <= t:
                ends.remove(e)
                if e < t:
                    ref.set(e, rate_at(e))
        if kind == "bolus":
            if state["running"] and state["cap"] is None and len([1 for end, _ in state["boluses"] if end > t]) < 3:
                state["boluses"].append((t + arg[1], Fraction(arg[0] * 1000 * DAY_MS, conc * arg[1])))
                ends.append(t + arg[1])
        elif kind in ("suspend", "rate"):
            if kind == "suspend":
                state["running"] = False
            else:
                state["basal"] = Fraction(arg * 1000, conc)
            state["boluses"] = []
            ends = []
        elif kind == "resume":
            state["running"] = True
        elif kind == "cap":  # the reservoir is empty: no bolus runs under a cap
            state["cap"] = arg
            state["boluses"] = []
            ends = []
        else:
            state["cap"] = None
        ref.set(t, rate_at(t))
    for e in sorted(ends):
        if e <= until:
            ref.set(e, rate_at(e))
    ref.check(steps, until)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1000000, 20000000), st.sampled_from([5000, 10000, 20000]), st.sampled_from([1000, 10000, 25000]),
       st.integers(0, 1000000), st.integers(60000, 8 * 3600000), st.sampled_from([200, 333, 1000]),
       _start_ticks)
def test_refill_bridge_exact(dose, c1, c2, catheter_nl, t_refill, nl, start):
    plan = _plan(_therapy(((0, dose),), c1), nl, 0, start)
    seen = {}

    def refill(now, t):
        plan.refill(now, c2, catheter_nl)
        seen["bridge"] = plan.catheter.old_nl

    def on_step(t, p):
        if "bridge" in seen and "end" not in seen and p.catheter.old_nl == 0:
            seen["end"] = t

    until = t_refill + DAY_MS
    steps = drive(plan, until, [(t_refill, refill)], start=start, on_step=on_step)
    ref = Reference(nl)
    ref.set(0, Fraction(dose * 1000, c1))
    bridging = c1 != c2 and catheter_nl > 0
    assert seen["bridge"] == (catheter_nl if bridging else 0)
    if bridging:
        if "end" not in seen:
            assert plan.catheter.old_nl > 0  # still bridging at the end: the old rate throughout
        else:
            bridge_steps = len([t for t in steps if t_refill < t <= seen["end"]])
            assert bridge_steps == -(-catheter_nl // nl)
            ref.set(seen["end"], Fraction(dose * 1000, c2))
    else:
        ref.set(t_refill, Fraction(dose * 1000, c2))
    ref.check(steps, until)


def _line_step(line, nl, reservoir_conc):
    """The catheter as the test sees it (tip first, [ug/mL, nL]): a step pushes nl of the reservoir's drug in and the
    same volume out of the tip; returns the drug mass that left (pg)."""
    line.append([reservoir_conc, nl])
    out_pg = 0
    while nl:
        take = min(nl, line[0][1])
        out_pg += take * line[0][0]
        line[0][1] -= take
        nl -= take
        if not line[0][1]:
            line.pop(0)
    return out_pg


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(500000, 3000000), st.sampled_from([2500, 5000, 10000, 20000]),
       st.lists(st.tuples(st.integers(600000, 4 * 3600000), st.sampled_from([2500, 5000, 10000, 20000, 30000])),
                min_size=1, max_size=7),
       st.integers(1, 300000), st.sampled_from([200, 333, 1000]), _start_ticks)
def test_stacked_refills_never_deliver_more_drug_than_programmed(dose, c0, refills, catheter_nl, nl, start):
    # Any sequence of refills, however close together: the drug mass out of the catheter tip (each old drug leaving
    # in turn, as the test's own model of the line says) never leads the programmed mass by more than one step of
    # the strongest drug that was in the catheter; unless a full queue had to merge (which can only fall short),
    # never lags it by more than two such steps either.
    plan = _plan(_therapy(((0, dose),), c0), nl, 0, start)
    line = [[c0, catheter_nl]]
    state = {"conc": c0, "strongest": c0, "pg": 0, "worst_lead": Fraction(0), "worst_lag": Fraction(0)}
    actions = []
    t = 0
    for gap, conc in refills:
        t += gap

        def refill(now, _t, conc=conc):
            plan.refill(now, conc, catheter_nl)
            state["conc"] = conc
            state["strongest"] = max(state["strongest"], conc)

        actions.append((t, refill))
    until = t + 12 * 3600000

    def on_step(t_ms, p):  # limit=1: one step per call
        programmed = Fraction(dose * 1000 * t_ms, DAY_MS)  # dose x time, exactly (pg)
        step = nl * state["strongest"]
        state["worst_lag"] = max(state["worst_lag"], (programmed - state["pg"]) / step)  # just before the step
        state["pg"] += _line_step(line, nl, state["conc"])
        state["worst_lead"] = max(state["worst_lead"], (state["pg"] - programmed) / step)

    drive(plan, until, actions, start=start, on_step=on_step)
    state["worst_lag"] = max(state["worst_lag"], (Fraction(dose * 1000 * until, DAY_MS) - state["pg"]) / (
        nl * state["strongest"]))
    assert state["worst_lead"] <= 1, state
    if not plan.catheter.merges:
        assert state["worst_lag"] <= 2, state


@_SETTINGS
@given(st.integers(1000, 5000000), st.sampled_from([50, 100, 200, 333]), _start_ticks,
       st.integers(0, 100000))
def test_priming_exact(volume_nl, nl, start, t_prime):
    plan = DosePlan(nl, PRIME_NL_PER_DAY, 0, start)
    plan.set_therapy(start, None, 10000)
    seen = {}

    def prime(now, t):
        plan.start_prime(now, volume_nl)

    def on_step(t, p):
        if "end" not in seen and p.prime_nl_left == 0:
            seen["end"] = t

    until = t_prime + 4 * 3600000  # 5 mL at 25 uL/min takes 200 min
    steps = drive(plan, until, [(t_prime, prime)], start=start, on_step=on_step)
    assert len(steps) == -(-volume_nl // nl)
    ref = Reference(nl)
    ref.set(t_prime, Fraction(PRIME_NL_PER_DAY))
    ref.set(seen["end"], Fraction(0))
    ref.check(steps, until)


# ---- a year ----


def test_constant_rate_for_a_year():
    dose, conc, nl = 1234567, 9973, 250  # 0.124 mL/day: 495 steps a day, a remainder carried at every step
    start = TICKS_MASK - 1000
    plan = _plan(_therapy(((0, dose),), conc), nl, 9700 * 86400 + 12345, start)
    until = 365 * DAY_MS
    steps = drive(plan, until, start=start, limit=16)
    ref = Reference(nl)
    ref.set(0, Fraction(dose * 1000, conc))
    ref.check(steps, until)
    assert len(steps) - int(ref.ideal(until)) in (0, 1)  # 181 thousand steps, not one lost or gained


def test_flex_schedule_with_weekly_override_and_periodic_boluses_for_a_year():
    # four basal steps (one of them 0), Sundays their own schedule, and a periodic bolus on Mon/Wed/Fri: about
    # 7 rate changes a day, 2500 a year, each carrying the step phase
    conc, nl = 10000, 500
    daily = ((0, 2000000), (6 * 3600000, 3500000), (13 * 3600000 + 17 * 60000, 0), (15 * 3600000, 2718281))
    sunday = ((0, 1000000), (9 * 3600000, 1600000))
    weekly = tuple(sunday if d == 6 else daily for d in range(7))
    mask = 1 | 4 | 16
    periodic = ((12 * 3600000 + 30 * 60000, 150000, 47 * 60000, mask),)
    wall_s = 9711 * 86400 + 5 * 3600  # Monday 2026-08-03, 05:00
    start = TICKS_MASK - 60000
    plan = _plan(_therapy(daily, conc, weekly, periodic), nl, wall_s, start)
    until = 365 * DAY_MS
    done = []

    def collect(t, p):
        if p.finished:
            done.extend((b.kind, b.dose_ng) for b in p.finished)
            p.finished = []

    steps = drive(plan, until, start=start, on_step=collect)
    extra = []
    midnight = -(wall_s % 86400) * 1000
    while midnight <= until:
        if mask >> _weekday(wall_s * 1000, midnight) & 1:
            t = midnight + periodic[0][0]
            if 0 < t <= until:
                extra.append((t, Fraction(150000 * 1000 * DAY_MS, conc * 47 * 60000)))
                extra.append((t + 47 * 60000, -Fraction(150000 * 1000 * DAY_MS, conc * 47 * 60000)))
        midnight += DAY_MS
    ref = schedule_reference(Reference(nl), list(weekly), conc, wall_s * 1000, until, extra)
    worst = ref.check(steps, until)
    assert worst <= 1
    done.extend((b.kind, b.dose_ng) for b in plan.finished)
    assert done == [(KIND_PERIODIC, 150000)] * (len(extra) // 2)
    assert len(steps) > 100000


def test_reset_phase_never_catches_up():
    plan = _plan(_therapy(((0, 4000000),), 10000), 200, 0, 0)  # 43.2 s per step
    now = ticks_add(0, 30000)
    plan.reset_phase(now)
    steps = drive(plan, 10 * 43200 + 100, start=now)
    assert steps == [43200 * k for k in range(1, 11)]


def test_approximated_interval_does_not_drift():
    # basal plus two boluses of odd length at an odd concentration: the step interval's reduced denominator is above
    # 2**29, so it is approximated. With 1 nL per step (112 thousand steps in 130 min) an approximation to the
    # denominator 2**29 - 1 drifted more than one step behind; the best upper approximation does not.
    conc, nl, start = 7919, 1, TICKS_MASK - 100
    plan = _plan(_therapy(((0, 4000003),), conc), nl, 0, start)
    plan.start_bolus(start, KIND_CLINICIAN, 400001, 130 * 60000)
    plan.start_bolus(start, KIND_CLINICIAN, 300007, 310 * 60000)
    rate = Fraction(4000003 * 1000, conc) + Fraction(400001 * 1000 * DAY_MS, conc * 130 * 60000) + Fraction(
        300007 * 1000 * DAY_MS, conc * 310 * 60000)
    iv = interval_for(plan.rate_num, plan.rate_den, nl)
    assert Fraction(iv[0] * iv[2] + iv[1], iv[2]) != Fraction(nl * DAY_MS) / rate  # approximated indeed
    until = 130 * 60000
    steps = drive(plan, until, start=start)
    ref = Reference(nl)
    ref.set(0, rate)
    ref.check(steps, until)
