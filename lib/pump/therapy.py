"""Therapy: a validated prescription (drug, basal schedule, boluses) and what it delivers (daily totals, the heaviest
window, its document and its console line), and the volume rates a therapy may run at. pump.prescription builds
one."""

from pump.compat import const
from pump.errors import E_RANGE, PumpError
from pump.units import DAY_MS, format_hhmm, format_ug, ms_to_min, ng_to_ug

MODE_STOPPED = const(0)
MODE_CONSTANT = const(1)
MODE_FLEX = const(2)
MODE_NAMES = ("stopped", "constant", "flex")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index 0 = Monday; bit i of a weekday mask
ALL_DAYS = const(0x7F)

MIN_RATE_NL_PER_DAY = const(10000)  # 0.01 mL/day: the slowest volume rate a therapy may run at
MAX_RATE_NL_PER_DAY = const(50000000)  # 50 mL/day: the fastest


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
