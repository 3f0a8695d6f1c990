"""Therapy: a validated prescription (drug, basal schedule, boluses) and the parser that checks it completely."""

from pump.compat import const
from pump.druglib import QTY_BOLUS, QTY_CONC, QTY_DAILY
from pump.errors import E_HARD_LIMIT, E_MALFORMED, E_RANGE, E_SCHEDULE, E_SOFT_LIMIT, E_UNKNOWN_DRUG, PumpError
from pump.units import (
    DAY_MS,
    MAX_SMALL_INT,
    as_int,
    format_hhmm,
    format_ug,
    min_to_ms,
    ms_to_min,
    ng_to_ug,
    parse_hhmm,
    ug_to_ng,
)

MODE_STOPPED = const(0)
MODE_CONSTANT = const(1)
MODE_FLEX = const(2)
MODE_NAMES = ("stopped", "constant", "flex")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index 0 = Monday; bit i of a weekday mask
ALL_DAYS = const(0x7F)

MIN_RATE_NL_PER_DAY = const(10000)  # 0.01 mL/day
MAX_RATE_NL_PER_DAY = const(50000000)  # 50 mL/day
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


class PatientBolus:
    """Patient-requested bolus: dose_ng over duration_ms, at most one per lockout_ms and max_per_day a day."""

    def __init__(self, dose_ng, duration_ms, lockout_ms, max_per_day):
        self.dose_ng = dose_ng
        self.duration_ms = duration_ms
        self.lockout_ms = lockout_ms
        self.max_per_day = max_per_day

    def _key(self):
        return (self.dose_ng, self.duration_ms, self.lockout_ms, self.max_per_day)

    def __eq__(self, other):
        return isinstance(other, PatientBolus) and self._key() == other._key()


class Therapy:
    """A validated prescription; immutable by convention (build a new one with parse_prescription)."""

    def __init__(self, drug, conc_ug_per_ml, mode, daily, weekly, patient_bolus, periodic_boluses, soft_confirmed):
        self.drug = drug
        self.conc_ug_per_ml = conc_ug_per_ml
        self.mode = mode
        self.daily = daily  # ((start_ms_of_day, dose_ng_per_day), ...), first start 0; () when stopped
        self.weekly = weekly  # None, or 7 such tuples (Monday first) when some weekday differs from `daily`
        self.patient_bolus = patient_bolus  # None or PatientBolus
        self.periodic_boluses = periodic_boluses  # ((start_ms_of_day, dose_ng, duration_ms, weekday_mask), ...)
        self.soft_confirmed = soft_confirmed  # a soft limit was broken and confirmed

    def _key(self):
        return (
            self.drug,
            self.conc_ug_per_ml,
            self.mode,
            self.daily,
            self.weekly,
            self.patient_bolus,
            self.periodic_boluses,
            self.soft_confirmed,
        )

    def __eq__(self, other):
        return isinstance(other, Therapy) and self._key() == other._key()

    def schedule_for(self, weekday):
        """The basal schedule of a weekday (0 = Monday)."""
        if not 0 <= weekday <= 6:
            raise PumpError(E_RANGE, "weekday: %r" % weekday)
        return self.weekly[weekday] if self.weekly is not None else self.daily

    def dose_ng_per_day_at(self, weekday, ms_of_day):
        """Basal dose rate (ng/day) in force at that time of that weekday; 0 when stopped. No boluses."""
        if not 0 <= ms_of_day < DAY_MS:
            raise PumpError(E_RANGE, "ms_of_day: %r" % ms_of_day)
        dose = 0
        for start, d in self.schedule_for(weekday):
            if start > ms_of_day:
                break
            dose = d
        return dose

    def daily_ng(self, weekday):
        """Drug a weekday's calendar day delivers: the integrated basal schedule (rounded up to a whole ng) plus the
        periodic boluses starting that day. Patient boluses are not included."""
        sched = self.schedule_for(weekday)
        total = 0
        for i in range(len(sched)):
            end = sched[i + 1][0] if i + 1 < len(sched) else DAY_MS
            total += sched[i][1] * (end - sched[i][0])
        ng = (total + DAY_MS - 1) // DAY_MS
        bit = 1 << weekday
        for _start, dose_ng, _dur, mask in self.periodic_boluses:
            if mask & bit:
                ng += dose_ng
        return ng

    def max_daily_ng(self):
        """Largest daily_ng over the week (basal plus periodic boluses)."""
        return max(self.daily_ng(d) for d in range(7))

    def max_window_ng(self, window_ms):
        """Most basal drug (ng, rounded up) any `window_ms` of the weekly cycle holds, wherever it starts: across
        midnight too, where two different weekdays meet. It is largest with one end on a schedule boundary, so only
        those windows are integrated (cold path: big ints)."""
        week_ms = 7 * DAY_MS
        bounds = []  # (start ms of week, dose ng/day) of every schedule step
        for d in range(7):
            for start, dose in self.schedule_for(d):
                bounds.append((d * DAY_MS + start, dose))

        def integral(t0, t1):  # ng/day x ms over [t0, t1) of the weekly cycle, t1 - t0 <= a week
            total = 0
            for i in range(len(bounds)):
                s0 = bounds[i][0]
                s1 = bounds[i + 1][0] if i + 1 < len(bounds) else week_ms
                for shift in (0, week_ms):  # the window may run past the end of the week
                    lo = max(t0, s0 + shift)
                    hi = min(t1, s1 + shift)
                    if hi > lo:
                        total += bounds[i][1] * (hi - lo)
            return total

        best = 0
        for b, _dose in bounds:
            for t0 in (b, (b - window_ms) % week_ms):
                best = max(best, integral(t0, t0 + window_ms))
        return (best + DAY_MS - 1) // DAY_MS

    def max_periodic_ng(self, days=2):
        """Most periodic-bolus drug started on `days` consecutive weekdays."""
        best = 0
        for d in range(7):
            ng = 0
            for k in range(days):
                bit = 1 << ((d + k) % 7)
                for _start, dose_ng, _dur, mask in self.periodic_boluses:
                    if mask & bit:
                        ng += dose_ng
            best = max(best, ng)
        return best

    def max_daily_total_ng(self):
        """max_daily_ng plus every patient bolus the program allows in a day: what the library's daily maximum
        is checked against."""
        pb = self.patient_bolus
        return self.max_daily_ng() + (pb.dose_ng * pb.max_per_day if pb is not None else 0)

    def to_doc(self):
        """The prescription dict (JSON-ready) that parses back to an equal Therapy."""
        if self.mode == MODE_CONSTANT:
            th = {"mode": "constant", "dose_ug_per_day": ng_to_ug(self.daily[0][1])}
        elif self.mode == MODE_FLEX:
            th = {"mode": "flex", "steps": _steps_doc(self.daily)}
            if self.weekly is not None:
                th["weekly"] = {}
                for i, sched in enumerate(self.weekly):
                    if sched != self.daily:
                        th["weekly"][WEEKDAYS[i]] = _steps_doc(sched)
        else:
            th = {"mode": "stopped"}
        doc = {"drug": {"name": self.drug, "concentration_ug_per_ml": self.conc_ug_per_ml}, "therapy": th}
        pb = self.patient_bolus
        if pb is not None:
            doc["patient_bolus"] = {
                "dose_ug": ng_to_ug(pb.dose_ng),
                "duration_min": ms_to_min(pb.duration_ms),
                "lockout_min": ms_to_min(pb.lockout_ms),
                "max_per_day": pb.max_per_day,
            }
        if self.periodic_boluses:
            out = []
            for start, dose_ng, duration_ms, mask in self.periodic_boluses:
                p = {"start": format_hhmm(start), "dose_ug": ng_to_ug(dose_ng), "duration_min": ms_to_min(duration_ms)}
                if mask != ALL_DAYS:
                    p["days"] = [WEEKDAYS[i] for i in range(7) if mask >> i & 1]
                out.append(p)
            doc["periodic_boluses"] = out
        if self.soft_confirmed:
            doc["confirm_soft_limits"] = True
        return doc

    def describe(self):
        """One short line for the console."""
        text = "%s %d ug/mL %s" % (self.drug, self.conc_ug_per_ml, MODE_NAMES[self.mode])
        if self.mode == MODE_CONSTANT:
            text += " %s ug/day" % format_ug(self.daily[0][1])
        elif self.mode == MODE_FLEX:
            text += " %d steps" % len(self.daily)
            if self.weekly is not None:
                text += " +weekly"
            text += ", up to %s ug/day" % format_ug(self.max_daily_ng())
        pb = self.patient_bolus
        if pb is not None:
            text += "; PB %s ug/%d min, lockout %d min, %d/day" % (
                format_ug(pb.dose_ng),
                ms_to_min(pb.duration_ms),
                ms_to_min(pb.lockout_ms),
                pb.max_per_day,
            )
        if self.periodic_boluses:
            text += "; %d periodic" % len(self.periodic_boluses)
        if self.soft_confirmed:
            text += "; soft limit confirmed"
        return text


def _steps_doc(sched):
    return [{"start": format_hhmm(s), "dose_ug_per_day": ng_to_ug(d)} for s, d in sched]


# ---- parsing ----


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
