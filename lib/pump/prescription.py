"""Prescription parser: a prescription document checked completely (structure, units, the mechanism's limits, the
drug library's hard and soft limits) into a new Therapy, or one PumpError whose detail starts with the key path."""

from pump.compat import const
from pump.druglib import QTY_BOLUS, QTY_CONC, QTY_DAILY
from pump.errors import E_HARD_LIMIT, E_MALFORMED, E_RANGE, E_SCHEDULE, E_SOFT_LIMIT, E_UNKNOWN_DRUG, PumpError
from pump.therapy import (
    ALL_DAYS,
    MAX_RATE_NL_PER_DAY,
    MIN_RATE_NL_PER_DAY,
    MODE_CONSTANT,
    MODE_FLEX,
    MODE_STOPPED,
    WEEKDAYS,
    PatientBolus,
    Therapy,
)
from pump.units import DAY_MS, MAX_SMALL_INT, as_int, format_ug, min_to_ms, parse_hhmm, ug_to_ng

MAX_FLEX_STEPS = const(16)
MAX_PERIODIC_BOLUSES = const(8)
MIN_BOLUS_MS = const(60000)
MAX_BOLUS_MS = const(86400000)
MAX_LOCKOUT_MS = const(86400000)
MAX_BOLUSES_PER_DAY = const(48)
_WEEK_MS = const(604800000)

_TOP_KEYS = ("drug", "therapy", "patient_bolus", "periodic_boluses", "confirm_soft_limits")
_PB_KEYS = ("dose_ug", "duration_min", "lockout_min", "max_per_day")
_PERIODIC_KEYS = ("start", "dose_ug", "duration_min", "days")


def _malformed(path, what):
    """The error to raise for a malformed value at `path`."""
    return PumpError(E_MALFORMED, "%s: %s" % (path, what))


def _obj(v, path, allowed):
    if type(v) is not dict:
        raise _malformed(path or "prescription", "must be an object")
    for k in v:
        if k not in allowed:
            raise _malformed("%s.%s" % (path, k) if path else str(k), "unknown key")
    return v


def _need(d, k, path):
    if k not in d:
        raise _malformed("%s.%s" % (path, k) if path else k, "missing")
    return d[k]


class _Ctx:
    # What the parse has learnt so far and the checks the drug library will run afterwards.
    def __init__(self, conc, nl_per_step):
        self.conc = conc
        self.nl_per_step = nl_per_step
        self.rates = []  # (dose_ng_per_day, key) of every schedule step
        self.boluses = []  # (dose_ng, key)

    def _ng(self, v, key):
        ng = ug_to_ng(v, key)
        if ng > MAX_SMALL_INT:
            raise PumpError(E_RANGE, "%s: %s ug is too large" % (key, format_ug(ng)))
        return ng

    def rate(self, v, key):
        # A basal dose rate: ng/day; a non-zero one must be a volume rate the mechanism can do.
        ng = self._ng(v, key)
        if ng:
            num, den = ng * 1000, self.conc  # nL/day = num / den
            if num < MIN_RATE_NL_PER_DAY * den or num < self.nl_per_step * den:
                raise PumpError(E_RANGE, "%s: %d nL/day is below the lowest rate" % (key, num // den))
            if num > MAX_RATE_NL_PER_DAY * den:
                raise PumpError(E_RANGE, "%s: %d nL/day is above the highest rate" % (key, num // den))
        self.rates.append((ng, key))
        return ng

    def bolus(self, d, path):
        # dose_ng, duration_ms of a bolus object: at least one step, 1 min..24 h, a possible volume rate.
        dose_ng = self._ng(_need(d, "dose_ug", path), path + ".dose_ug")
        duration_ms = min_to_ms(_need(d, "duration_min", path), path + ".duration_min")
        check_bolus(dose_ng, duration_ms, self.conc, self.nl_per_step, path)
        self.boluses.append((dose_ng, path + ".dose_ug"))
        return dose_ng, duration_ms


def check_bolus(dose_ng, duration_ms, conc_ug_per_ml, nl_per_step, path):
    """A bolus must be at least one pump step, last 1 min..24 h and run at a possible volume rate (E_RANGE)."""
    if dose_ng * 1000 < nl_per_step * conc_ug_per_ml:
        raise PumpError(E_RANGE, "%s.dose_ug: less than one pump step (%d nL)" % (path, nl_per_step))
    key = path + ".duration_min"
    if not MIN_BOLUS_MS <= duration_ms <= MAX_BOLUS_MS:
        raise PumpError(E_RANGE, "%s: must be 1..1440 min" % key)
    num, den = dose_ng * 1000 * DAY_MS, conc_ug_per_ml * duration_ms  # nL/day while it runs
    if num < MIN_RATE_NL_PER_DAY * den:
        raise PumpError(E_RANGE, "%s: %d nL/day is below the lowest rate" % (key, num // den))
    if num > MAX_RATE_NL_PER_DAY * den:
        raise PumpError(E_RANGE, "%s: %d nL/day is above the highest rate" % (key, num // den))


def _steps(v, path, ctx):
    if type(v) is not list:
        raise _malformed(path, "must be a list")
    if not 1 <= len(v) <= MAX_FLEX_STEPS:
        raise PumpError(E_SCHEDULE, "%s: needs 1..%d steps" % (path, MAX_FLEX_STEPS))
    out = []
    prev = -1
    for i, s in enumerate(v):
        p = "%s[%d]" % (path, i)
        _obj(s, p, ("start", "dose_ug_per_day"))
        start = parse_hhmm(_need(s, "start", p), p + ".start")
        if i == 0 and start != 0:
            raise PumpError(E_SCHEDULE, "%s.start: the first step starts at 00:00" % p)
        if start <= prev:
            raise PumpError(E_SCHEDULE, "%s.start: must be later than the step before" % p)
        out.append((start, ctx.rate(_need(s, "dose_ug_per_day", p), p + ".dose_ug_per_day")))
        prev = start
    return tuple(out)


def _basal(th, ctx):
    # (mode, daily, weekly, key of each weekday's schedule)
    mode = _need(th, "mode", "therapy")
    if mode == "stopped":
        _obj(th, "therapy", ("mode",))
        return MODE_STOPPED, (), None, ("therapy.mode",) * 7
    if mode == "constant":
        _obj(th, "therapy", ("mode", "dose_ug_per_day"))
        key = "therapy.dose_ug_per_day"
        return MODE_CONSTANT, ((0, ctx.rate(_need(th, "dose_ug_per_day", "therapy"), key)),), None, (key,) * 7
    if mode != "flex":
        raise _malformed("therapy.mode", "unknown mode %r" % (mode,))
    _obj(th, "therapy", ("mode", "steps", "weekly"))
    daily = _steps(_need(th, "steps", "therapy"), "therapy.steps", ctx)
    keys = ["therapy.steps"] * 7
    w = th.get("weekly")
    if w is None:
        return MODE_FLEX, daily, None, keys
    _obj(w, "therapy.weekly", WEEKDAYS)
    days = []
    for i, name in enumerate(WEEKDAYS):
        if name in w:
            keys[i] = "therapy.weekly." + name
            days.append(_steps(w[name], keys[i], ctx))
        else:
            days.append(daily)
    weekly = tuple(days)
    for sched in weekly:
        if sched != daily:
            return MODE_FLEX, daily, weekly, keys
    return MODE_FLEX, daily, None, keys


def _patient_bolus(v, ctx):
    if v is None:
        return None
    _obj(v, "patient_bolus", _PB_KEYS)
    dose_ng, duration_ms = ctx.bolus(v, "patient_bolus")
    lockout_ms = min_to_ms(_need(v, "lockout_min", "patient_bolus"), "patient_bolus.lockout_min")
    if lockout_ms > MAX_LOCKOUT_MS:
        raise PumpError(E_RANGE, "patient_bolus.lockout_min: must be 0..1440 min")
    n = as_int(_need(v, "max_per_day", "patient_bolus"), "patient_bolus.max_per_day")
    if not 0 <= n <= MAX_BOLUSES_PER_DAY:
        raise PumpError(E_RANGE, "patient_bolus.max_per_day: must be 0..%d" % MAX_BOLUSES_PER_DAY)
    return PatientBolus(dose_ng, duration_ms, lockout_ms, n)


def _days(v, path):
    if type(v) is not list or not v:
        raise _malformed(path, "must be a non-empty list of weekdays")
    mask = 0
    for i, name in enumerate(v):
        bit = 1 << WEEKDAYS.index(name) if name in WEEKDAYS else 0
        if not bit or mask & bit:
            raise _malformed("%s[%d]" % (path, i), "unknown or repeated weekday %r" % (name,))
        mask |= bit
    return mask


def _periodic(v, ctx):
    if v is None:
        return ()
    if type(v) is not list:
        raise _malformed("periodic_boluses", "must be a list")
    if len(v) > MAX_PERIODIC_BOLUSES:
        raise PumpError(E_SCHEDULE, "periodic_boluses: at most %d" % MAX_PERIODIC_BOLUSES)
    out = []
    spans = []  # (begin, end, index) in ms of the week
    for i, d in enumerate(v):
        p = "periodic_boluses[%d]" % i
        _obj(d, p, _PERIODIC_KEYS)
        start = parse_hhmm(_need(d, "start", p), p + ".start")
        dose_ng, duration_ms = ctx.bolus(d, p)
        mask = _days(d["days"], p + ".days") if "days" in d else ALL_DAYS
        out.append((start, dose_ng, duration_ms, mask))
        for day in range(7):
            if mask >> day & 1:
                spans.append((day * DAY_MS + start, day * DAY_MS + start + duration_ms, i))
    # Two periodic boluses never run at once (also across midnight and from Sunday into Monday).
    spans.sort()
    for j in range(len(spans)):
        end, i = spans[j][1], spans[j][2]
        nxt = spans[j + 1] if j + 1 < len(spans) else (spans[0][0] + _WEEK_MS, 0, spans[0][2])
        if end > nxt[0]:
            a, b = min(i, nxt[2]), max(i, nxt[2])
            raise PumpError(E_SCHEDULE, "periodic_boluses[%d].start: overlaps periodic_boluses[%d]" % (b, a))
    return tuple(sorted(out))


def parse_prescription(doc, library, nl_per_step, confirm_soft=False, check_library=True):
    """Validate a prescription dict into a new Therapy, or raise PumpError whose detail starts with the key path.

    doc = {"drug": {"name", "concentration_ug_per_ml"},
           "therapy": {"mode": "stopped"} | {"mode": "constant", "dose_ug_per_day"}
                      | {"mode": "flex", "steps": [{"start": "HH:MM", "dose_ug_per_day"}, ...],
                         "weekly": {"sat": [steps], ...}},                               (weekly optional)
           "patient_bolus": {"dose_ug", "duration_min", "lockout_min", "max_per_day"},   (optional)
           "periodic_boluses": [{"start", "dose_ug", "duration_min", "days": ["mon", ...]}],   (optional)
           "confirm_soft_limits": bool}                                                  (optional)
    Unknown keys are refused. `library` is the DrugLibrary (None refuses with E_UNKNOWN_DRUG); `nl_per_step` the
    pump's calibration. Soft limits pass only with confirm_soft or "confirm_soft_limits": true. The library's daily
    limits apply to the largest day's total including every allowed patient bolus (maxima), to the smallest day's
    total (minima) and to the highest schedule rate (maxima). Nothing is mutated. With check_library False only the
    structure and the mechanism's limits are checked (a stored program, validated when it was programmed, read back
    at a boot without a usable library): `library` is not used, the drug's name is kept as it is.
    """
    if type(nl_per_step) is not int or not 0 < nl_per_step <= MAX_SMALL_INT:
        raise PumpError(E_RANGE, "nl_per_step: %r" % (nl_per_step,))
    _obj(doc, "", _TOP_KEYS)
    drug = _obj(_need(doc, "drug", ""), "drug", ("name", "concentration_ug_per_ml"))
    name = _need(drug, "name", "drug")
    if type(name) is not str or not name:
        raise _malformed("drug.name", "must be a non-empty string")
    conc_key = "drug.concentration_ug_per_ml"
    conc = as_int(_need(drug, "concentration_ug_per_ml", "drug"), conc_key)
    if not 0 < conc <= MAX_SMALL_INT:
        raise PumpError(E_RANGE, "%s: must be > 0" % conc_key)
    confirmed = doc.get("confirm_soft_limits", False)
    if type(confirmed) is not bool:
        raise _malformed("confirm_soft_limits", "must be true or false")
    ctx = _Ctx(conc, nl_per_step)
    th = _need(doc, "therapy", "")
    if type(th) is not dict:
        raise _malformed("therapy", "must be an object")
    mode, daily, weekly, day_keys = _basal(th, ctx)
    pb = _patient_bolus(doc.get("patient_bolus"), ctx)
    periodic = _periodic(doc.get("periodic_boluses"), ctx)
    if mode == MODE_STOPPED and (pb is not None or periodic):
        key = "patient_bolus" if pb is not None else "periodic_boluses"
        raise _malformed(key, "not allowed when therapy is stopped")

    if not check_library:
        return Therapy(name, conc, mode, daily, weekly, pb, periodic, confirmed)
    if library is None:
        raise PumpError(E_UNKNOWN_DRUG, "drug.name: no drug library loaded")
    lim = library.limits(name)
    t = Therapy(lim.name, conc, mode, daily, weekly, pb, periodic, False)
    checks = [(conc_key, QTY_CONC, conc, True, "")]
    if mode != MODE_STOPPED:
        totals = [t.daily_ng(d) for d in range(7)]
        hi = totals.index(max(totals))
        lo = totals.index(min(totals))
        worst = t.max_daily_total_ng()
        what = "daily total with patient boluses " if pb is not None else "daily total "
        checks.append((day_keys[hi], QTY_DAILY, worst, False, what))
        checks.append((day_keys[lo], QTY_DAILY, totals[lo], True, "daily total "))
        rate_ng, rate_key = max(ctx.rates)
        checks.append((rate_key, QTY_DAILY, rate_ng, False, "step rate "))
    for dose_ng, key in ctx.boluses:
        checks.append((key, QTY_BOLUS, dose_ng, True, ""))
    soft = None
    for key, qty, value, lower, what in checks:
        v = library.violation(lim.name, qty, value, lower)
        if v is None:
            continue
        if v[0] == E_HARD_LIMIT:
            raise PumpError(E_HARD_LIMIT, "%s: %s%s" % (key, what, v[1]))
        if soft is None:
            soft = "%s: %s%s" % (key, what, v[1])
    if soft is not None:
        if not (confirm_soft or confirmed):
            raise PumpError(E_SOFT_LIMIT, soft)
        t.soft_confirmed = True
    return t
