"""Reference dose model for the simulator: the exact integral of the programmed rate, written independently of lib/pump.

It reads the prescription itself (schedule, weekly overrides, periodic boluses) and uses Python's exact Fractions
and the standard calendar, so the firmware's integer engine is checked against a separate implementation. Its
unit is motor steps at the pump's calibrated volume per step.

The catheter: after a refill with a new strength the drug the reservoir held before still fills the catheter behind
any older ones, and each reaches the patient at its own strength, so the volume rate follows the drug at the tip.
Here each old drug is the instant (in delivered steps) its last part leaves the tip: the catheter volume after the
steps delivered at its refill, as a whole number of steps. Priming pushes them out too. At most four old drugs, as
the firmware: a fifth merges with the newest at the stronger strength. `mass_ng` integrates the volume at the
strength at the tip: the dose the program calls for (and priming's drug), exactly.
"""

import datetime
from fractions import Fraction

DAY_MS = 86400000
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hhmm(text):
    h, m = text.split(":")
    return (int(h) * 60 + int(m)) * 60000


def _ng(ug):
    return Fraction(ug) * 1000 if isinstance(ug, int) else Fraction(round(ug * 1000))


def _schedule(steps):
    return [(_hhmm(s["start"]), _ng(s["dose_ug_per_day"])) for s in steps]


class Reference:
    """Ideal steps delivered since the start, advanced in time order by the simulator's events."""

    def __init__(self, prescription, nl_per_step, start_date, prime_nl_per_day):
        self.nl_per_step = nl_per_step
        self.prime_nl_per_day = prime_nl_per_day
        self.start_date = start_date
        self.t_ms = 0
        self.ideal = Fraction(0)
        self.running = True
        self.boluses = []  # [end_ms, rate ng/day]
        self.prime_end = None  # priming until `ideal` reaches it
        self.old = []  # old drugs in the catheter, tip first: [ideal at which the last of it leaves the tip, ug/mL]
        self.mass_ng = Fraction(0)
        self.cap_nl_per_day = None
        self.rebases = 0
        self.program(prescription)

    # ---- prescription ----
    def program(self, prescription):
        drug = prescription["drug"]
        self.conc = Fraction(drug["concentration_ug_per_ml"])
        th = prescription["therapy"]
        mode = th["mode"]
        if mode == "constant":
            daily = [(0, _ng(th["dose_ug_per_day"]))]
        elif mode == "flex":
            daily = _schedule(th["steps"])
        else:
            daily = []
        self.week = [daily] * 7
        for name, steps in th.get("weekly", {}).items():
            self.week[_WEEKDAYS.index(name)] = _schedule(steps)
        self.stopped = mode == "stopped"
        self.periodic = []
        for p in prescription.get("periodic_boluses", []):
            days = p.get("days", _WEEKDAYS)
            self.periodic.append((_hhmm(p["start"]), _ng(p["dose_ug"]), p["duration_min"] * 60000,
                                  {_WEEKDAYS.index(d) for d in days}))
        pb = prescription.get("patient_bolus")
        self.patient = (_ng(pb["dose_ug"]), pb["duration_min"] * 60000) if pb else None
        self.boluses = []

    # ---- calendar ----
    def _weekday(self, t_ms):
        return (self.start_date + datetime.timedelta(milliseconds=int(t_ms))).weekday()

    def _basal_ng(self, t_ms):
        if not self.running or self.stopped:
            return Fraction(0)
        ms = t_ms % DAY_MS
        dose = Fraction(0)
        for start, d in self.week[self._weekday(t_ms)]:
            if start <= ms:
                dose = d
        return dose

    # ---- rate ----
    def tip_conc(self):
        return self.old[0][1] if self.old else self.conc

    def rate_steps_per_ms(self, t_ms):
        steps_per_nl_ms = Fraction(1, self.nl_per_step * DAY_MS)
        if self.prime_end is not None:
            return self.prime_nl_per_day * steps_per_nl_ms
        ng = self._basal_ng(t_ms) + sum((b[1] for b in self.boluses), Fraction(0))
        nl = ng * 1000 / self.tip_conc()
        if self.cap_nl_per_day is not None and nl > self.cap_nl_per_day:
            nl = Fraction(self.cap_nl_per_day)
        return nl * steps_per_nl_ms

    def _next_break(self, t_ms):
        """Next instant the rate may change by the clock (schedule step, midnight, bolus end, periodic start)."""
        day0 = t_ms - t_ms % DAY_MS
        ms = t_ms % DAY_MS
        best = day0 + DAY_MS
        wd = self._weekday(t_ms)
        for start, _d in self.week[wd]:
            if start > ms:
                best = min(best, day0 + start)
        for start, _d, _dur, days in self.periodic:
            if start > ms and wd in days:
                best = min(best, day0 + start)
        for end, _r in self.boluses:
            best = min(best, end)
        return best

    def _volume_mark(self):
        """The next `ideal` at which the rate changes by volume (priming done, an old drug out), or None."""
        marks = [m for m in (self.prime_end, self.old[0][0] if self.old else None) if m is not None]
        return min(marks) if marks else None

    def _integrate(self, rate, until):
        steps = rate * (until - self.t_ms)
        self.mass_ng += steps * self.nl_per_step * self.tip_conc() / 1000  # nL x ug/mL = pg
        self.ideal += steps
        self.t_ms = until

    def _passed(self):
        """Drop the priming and the old drugs `ideal` has reached."""
        if self.prime_end is not None and self.ideal >= self.prime_end:
            self.prime_end = None
        while self.old and self.ideal >= self.old[0][0]:
            self.old.pop(0)

    def advance(self, t_ms):
        """Integrate the rate up to t_ms (never backwards)."""
        while self.t_ms < t_ms:
            rate = self.rate_steps_per_ms(self.t_ms)
            end = min(t_ms, self._next_break(self.t_ms))
            mark = self._volume_mark()
            if mark is not None and rate > 0:
                at = self.t_ms + (mark - self.ideal) / rate  # a Fraction: the exact instant the volume is done
                if at <= end:
                    self._integrate(rate, at)
                    self.ideal = mark
                    self._passed()
                    continue
            self._integrate(rate, end)
            self._at_break()

    def _at_break(self):
        t = self.t_ms
        self.boluses = [b for b in self.boluses if b[0] > t]
        if t == int(t) and self.running and not self.stopped:
            ms = int(t) % DAY_MS
            wd = self._weekday(int(t))
            for start, dose, dur, days in self.periodic:
                if start == ms and wd in days:
                    self.boluses.append([t + dur, dose * DAY_MS / dur])

    def line(self, t_ms):
        """Advance to t_ms; return (a, b, y, valid_until_ms): ideal(t) = (a + t * b) / y exactly, for t up to then.

        The simulator evaluates the ideal at every wake-up with integer arithmetic only, between rate changes.
        """
        self.advance(t_ms)
        rate = self.rate_steps_per_ms(self.t_ms)
        until = self._next_break(int(self.t_ms))
        mark = self._volume_mark()
        if mark is not None and rate > 0:
            until = min(until, self.t_ms + (mark - self.ideal) / rate)
        icpt = self.ideal - rate * self.t_ms
        y = icpt.denominator * rate.denominator
        return icpt.numerator * rate.denominator, rate.numerator * icpt.denominator, y, until

    # ---- events (the simulator calls these at the event's time, after advance) ----
    def bolus(self, dose_ng, duration_ms):
        self.boluses.append([self.t_ms + duration_ms, Fraction(dose_ng) * DAY_MS / duration_ms])

    def patient_bolus(self):
        self.bolus(*self.patient)

    def suspend(self):
        self.running = False
        self.boluses = []
        self.prime_end = None

    def resume(self):
        self.running = True

    def rebase(self, delivered_steps):
        """After a reset the pump restarts with a whole step owed (no catch-up): follow it."""
        self.ideal = Fraction(delivered_steps)
        self.boluses = []
        self.prime_end = None
        self._passed()
        self.rebases += 1

    def prime(self, volume_nl, delivered_steps):
        """Priming moves ceil(volume / step) steps counted from the steps already delivered."""
        self.prime_end = delivered_steps + -(-volume_nl // self.nl_per_step)

    def refill(self, new_conc, catheter_nl, delivered_steps):
        """A new concentration: the catheter's drug goes first, at its own strength, after any older ones."""
        new_conc = Fraction(new_conc)
        end = delivered_steps + -(-catheter_nl // self.nl_per_step)
        if new_conc != self.conc and catheter_nl > 0 and (not self.old or end > self.old[-1][0]):
            if self.old and (self.old[-1][1] == self.conc or len(self.old) == 4):
                self.old[-1] = [end, max(self.old[-1][1], self.conc)]  # the same drug, or merged: the stronger
            else:
                self.old.append([end, self.conc])
        self.conc = new_conc
        self.cap_nl_per_day = None

    def set_cap(self, cap_nl_per_day):
        self.cap_nl_per_day = cap_nl_per_day
