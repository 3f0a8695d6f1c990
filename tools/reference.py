"""Reference dose model for the simulator: the exact integral of the programmed rate, written independently of lib/pump.

It reads the prescription itself (schedule, weekly overrides, periodic boluses) and uses Python's exact Fractions
and the standard calendar, so the firmware's integer engine is checked against a separate implementation. Its
unit is motor steps at the pump's calibrated volume per step.
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


def _ms(minutes):
    return Fraction(minutes) * 60000  # exact for 30 and for 30.0 alike (a file's whole number written as a float)


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
        self.phase = None  # (kind, end_ideal): priming or bridging until `ideal` reaches end_ideal
        self.bridge_conc = None
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
            self.periodic.append((_hhmm(p["start"]), _ng(p["dose_ug"]), _ms(p["duration_min"]),
                                  {_WEEKDAYS.index(d) for d in days}))
        pb = prescription.get("patient_bolus")
        self.patient = (_ng(pb["dose_ug"]), _ms(pb["duration_min"])) if pb else None
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
    def rate_steps_per_ms(self, t_ms):
        steps_per_nl_ms = Fraction(1, self.nl_per_step * DAY_MS)
        if self.phase and self.phase[0] == "prime":
            return self.prime_nl_per_day * steps_per_nl_ms
        ng = self._basal_ng(t_ms) + sum((b[1] for b in self.boluses), Fraction(0))
        conc = self.bridge_conc if self.phase else self.conc
        nl = ng * 1000 / conc
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

    def advance(self, t_ms):
        """Integrate the rate up to t_ms (never backwards)."""
        while self.t_ms < t_ms:
            rate = self.rate_steps_per_ms(self.t_ms)
            end = min(t_ms, self._next_break(self.t_ms))
            if self.phase and rate > 0:
                phase_end = self.t_ms + (self.phase[1] - self.ideal) / rate
                if phase_end <= end:
                    self.ideal = self.phase[1]
                    self.t_ms = phase_end  # a Fraction: the exact instant the volume is done
                    self.phase = None
                    continue
            self.ideal += rate * (end - self.t_ms)
            self.t_ms = end
            self._at_break()

    def _at_break(self):
        t = self.t_ms
        self.boluses = [b for b in self.boluses if b[0] > t]
        if t == int(t) and self.running and not self.stopped and self.cap_nl_per_day is None:
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
        if self.phase and rate > 0:
            until = min(until, self.t_ms + (self.phase[1] - self.ideal) / rate)
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
        if self.phase and self.phase[0] == "prime":
            self.phase = None

    def resume(self):
        self.running = True

    def rebase(self, delivered_steps):
        """After a reset the pump restarts with a whole step owed (no catch-up): follow it."""
        self.ideal = Fraction(delivered_steps)
        self.boluses = []
        self.phase = None if self.phase and self.phase[0] == "prime" else self.phase
        self.rebases += 1

    def prime(self, volume_nl, delivered_steps):
        """Priming moves ceil(volume / step) steps counted from the steps already delivered."""
        self.phase = ("prime", delivered_steps + -(-volume_nl // self.nl_per_step))

    def refill(self, new_conc, catheter_nl, delivered_steps):
        """A new concentration: the catheter's old drug goes first, at the old strength (bridge)."""
        new_conc = Fraction(new_conc)
        if new_conc != self.conc and catheter_nl > 0:
            self.bridge_conc = self.conc
            self.phase = ("bridge", delivered_steps + -(-catheter_nl // self.nl_per_step))
        self.conc = new_conc
        self.cap_nl_per_day = None

    def set_cap(self, cap_nl_per_day):
        """The reservoir is empty: the rate is capped, and no bolus runs (in progress: cancelled; periodic: none)."""
        self.cap_nl_per_day = cap_nl_per_day
        self.boluses = []
