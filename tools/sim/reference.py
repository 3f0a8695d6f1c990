"""Reference dose model for the simulator: the exact integral of the programmed rate, written independently of lib/pump.

It reads the prescription itself (schedule, weekly overrides, periodic boluses) and uses Python's exact Fractions
and the standard calendar, so the firmware's integer engine is checked against a separate implementation. Its
unit is motor steps at the pump's calibrated volume per step.

Clock corrections follow the policy of docs/safety.md, written here afresh: the schedule in force before a correction
stays in force for a day after it (longer while the current schedule's periodic bolus that had started by then
runs), and while more than one schedule is in force the program's rate (basal plus periodic bolus) is the least of
them, with no periodic bolus of its own. The reference's time is the pump's monotonic time (the simulator's clock).

The catheter: after a refill with a new strength the drug the reservoir held before still fills the catheter behind
any older ones, and each reaches the patient at its own strength, so the volume rate follows the drug at the tip.
Here each old drug is the instant (in delivered steps) its last part leaves the tip: the catheter volume after the
steps delivered at its refill, as a whole number of steps. Priming pushes them out too. At most four old drugs, as
the firmware: a fifth merges with the newest at the stronger strength, and with the one before it too when that
holds the same strength (no two neighbours share one, so a reset, which reads the pump's queue back, changes
nothing). `mass_ng` integrates the volume at the strength at the tip: the dose the program calls for (and priming's
drug), exactly.
"""

import bisect
import datetime
from fractions import Fraction

DAY_MS = 86400000
WEEK_MS = 7 * DAY_MS
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


class Program:
    """A prescription's dose over the week (Monday 00:00 = 0): basal schedule, weekday overrides, periodic boluses;
    `patient`: the patient bolus (dose ng, duration ms, lockout ms, most per day) or None."""

    def __init__(self, prescription):
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
        self.patient = (_ng(pb["dose_ug"]), _ms(pb["duration_min"]), _ms(pb["lockout_min"]),
                        pb["max_per_day"]) if pb else None
        self._cumulative = None

    def ng_per_day(self, week_ms, periodic):
        """ng/day the program calls for at `week_ms`: the basal rate, plus the periodic bolus running if `periodic`."""
        day = int(week_ms // DAY_MS)
        ms = week_ms - day * DAY_MS
        dose = Fraction(0)
        if self.stopped:
            return dose
        for start, d in self.week[day]:
            if start <= ms:
                dose = d
        if periodic:
            for start, p_dose, dur, days in self.periodic:
                for d in days:
                    if (week_ms - d * DAY_MS - start) % WEEK_MS < dur:
                        dose += p_dose * DAY_MS / dur
        return dose

    def heaviest_ng(self, length_ms):
        """The most drug any stretch of `length_ms` (at most a week) of the program holds, basal and periodic boluses
        (patient and clinician boluses are not part of it): exact, the week read round as a circle."""
        edges, totals, rates = self._cumulative or self._integrate()
        week = totals[-1]

        def upto(x):  # ng x ms/day from Monday 00:00 to x
            i = bisect.bisect_right(edges, x) - 1
            return totals[i] + rates[i] * (x - edges[i])

        best = Fraction(0)
        for e in edges:
            for s in (e, (e - length_ms) % WEEK_MS):
                end = s + length_ms
                held = upto(end) - upto(s) if end <= WEEK_MS else week - upto(s) + upto(end - WEEK_MS)
                best = max(best, held)
        return best / DAY_MS

    def _integrate(self):
        """(edges, cumulative dose at each, rate from each): the week's rate, constant between its edges."""
        marks = {0}
        for day, sched in enumerate(self.week):
            marks.update(day * DAY_MS + start for start, _d in sched)
        for start, _d, dur, days in self.periodic:
            for day in days:
                at = (day * DAY_MS + start) % WEEK_MS
                marks.update((at, (at + dur) % WEEK_MS))
        edges = sorted(marks)
        rates = [self.ng_per_day(e, True) for e in edges]
        totals = [Fraction(0)]
        for i in range(len(edges)):
            end = edges[i + 1] if i + 1 < len(edges) else WEEK_MS
            totals.append(totals[-1] + rates[i] * (end - edges[i]))
        self._cumulative = (edges, totals, rates)
        return self._cumulative


class Reference:
    """Ideal steps delivered since the start, advanced in time order by the simulator's events."""

    def __init__(self, prescription, nl_per_step, start_date, prime_nl_per_day):
        self.nl_per_step = nl_per_step
        self.prime_nl_per_day = prime_nl_per_day
        # ms of the week (Monday 00:00 = 0) the wall clock reads at t = 0; corrections add to `clock_ms`
        midnight = datetime.datetime(start_date.year, start_date.month, start_date.day)
        self.week0_ms = start_date.weekday() * DAY_MS + (start_date - midnight) // datetime.timedelta(milliseconds=1)
        self.wall0 = start_date
        self.clock_ms = 0
        self.schedules = []  # [shift_ms, until_t_ms] of the schedules still in force from before a correction
        self.t_ms = 0
        self.ideal = Fraction(0)
        self.running = True
        self.boluses = []  # [end_ms, rate ng/day, periodic?]
        self.prime_end = None  # priming until `ideal` reaches it
        self.old = []  # old drugs in the catheter, tip first: [ideal at which the last of it leaves the tip, ug/mL]
        self.gone = []  # the last old drugs out of the tip (at most 4), for shift()
        self.mass_ng = Fraction(0)
        self.cap_nl_per_day = None
        self.rebases = 0
        self.program(prescription)

    # ---- prescription ----
    def program(self, prescription):
        prog = Program(prescription)
        self.conc = prog.conc
        self.week = prog.week
        self.stopped = prog.stopped
        self.periodic = prog.periodic
        self.patient = prog.patient
        self._prog = prog
        self.boluses = []

    # ---- calendar ----
    def wall_ms(self, t_ms):
        """The wall clock at t_ms, ms since 2000-01-01 (what the pump shows)."""
        return (self.wall0 - datetime.datetime(2000, 1, 1)) // datetime.timedelta(milliseconds=1) + self.clock_ms + t_ms

    def _week_ms(self, t_ms, shift_ms=0):
        return (self.week0_ms + self.clock_ms + shift_ms + t_ms) % WEEK_MS

    def _program_ng(self, week_ms, periodic):
        return self._prog.ng_per_day(week_ms, periodic)

    def _leave(self, schedule):
        """When an earlier schedule stops being in force: a day after its correction, or at the end of the periodic
        bolus the current schedule runs then, if that one started before."""
        until = schedule[1]
        wk = self._week_ms(until)
        for start, _dose, dur, days in self.periodic:
            for d in days:
                since = (wk - d * DAY_MS - start) % WEEK_MS
                if 0 < since < dur:
                    return until + dur - since
        return until

    def _in_force(self, t_ms):
        return [p for p in self.schedules if self._leave(p) > t_ms]

    def _scheduled_ng(self, t_ms):
        if not self.running or self.stopped:
            return Fraction(0)
        earlier = self._in_force(t_ms)
        if not earlier:
            return self._program_ng(self._week_ms(t_ms), False)  # periodic boluses are in self.boluses
        return min(self._program_ng(self._week_ms(t_ms, shift), True) for shift in [0] + [p[0] for p in earlier])

    # ---- rate ----
    def tip_conc(self):
        return self.old[0][1] if self.old else self.conc

    def rate_steps_per_ms(self, t_ms):
        steps_per_nl_ms = Fraction(1, self.nl_per_step * DAY_MS)
        if self.prime_end is not None:
            return self.prime_nl_per_day * steps_per_nl_ms
        ng = self._scheduled_ng(t_ms) + sum((b[1] for b in self.boluses), Fraction(0))
        nl = ng * 1000 / self.tip_conc()
        if self.cap_nl_per_day is not None and nl > self.cap_nl_per_day:
            nl = Fraction(self.cap_nl_per_day)
        return nl * steps_per_nl_ms

    def _next_break(self, t_ms):
        """Next instant the rate may change by the clock: a schedule step, midnight, a periodic bolus's start (or end,
        while several schedules are in force), a bolus end, a schedule leaving."""
        best = t_ms + DAY_MS
        earlier = self._in_force(t_ms)
        for shift in [0] + [p[0] for p in earlier]:
            wk = self._week_ms(t_ms, shift)
            day = int(wk // DAY_MS)
            ms = wk - day * DAY_MS
            best = min(best, t_ms + DAY_MS - ms)
            for start, _d in self.week[day]:
                if start > ms:
                    best = min(best, t_ms + start - ms)
            for start, _d, dur, days in self.periodic:
                for d in days:
                    for edge in (d * DAY_MS + start, d * DAY_MS + start + dur) if earlier else (d * DAY_MS + start,):
                        dt = (edge - wk) % WEEK_MS
                        if dt:
                            best = min(best, t_ms + dt)
        for p in earlier:
            best = min(best, self._leave(p))
        for b in self.boluses:
            best = min(best, b[0])
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
            self.gone = (self.gone + [self.old.pop(0)])[-4:]

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
        running = self.running and not self.stopped
        self.schedules = self._in_force(t)
        if t == int(t) and running and not self.schedules and self.cap_nl_per_day is None:
            wk = self._week_ms(t)
            for start, dose, dur, days in self.periodic:
                if any(wk == d * DAY_MS + start for d in days):
                    self.boluses.append([t + dur, dose * DAY_MS / dur, True])

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
        self.boluses.append([self.t_ms + duration_ms, Fraction(dose_ng) * DAY_MS / duration_ms, False])

    def set_clock(self, step_ms):
        """The wall clock moves by step_ms: the schedule so far stays in force for a day (from the next whole second
        of the pump's monotonic time), a schedule equal to the new one or to another is one; a periodic bolus in
        progress goes on inside the earlier schedule."""
        t = self.t_ms
        until = -(-t // 1000) * 1000 + DAY_MS
        kept = {}
        for shift, u in self.schedules + [[0, until]]:
            shift = (shift - step_ms) % WEEK_MS
            if shift:
                kept[shift] = max(kept.get(shift, u), u)
        self.schedules = [[shift, u] for shift, u in kept.items()]
        if self.schedules:
            self.boluses = [b for b in self.boluses if not b[2]]
        self.clock_ms += step_ms

    def patient_bolus(self):
        self.bolus(*self.patient[:2])

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

    def shift(self, steps):
        """`steps` delivered moved no drug out of the tip (drawn back by the occlusion back-off, or not made by a
        jammed mechanism): the old drugs and the priming end that much later, an old drug already out comes back."""
        for mark in self.old + self.gone:
            mark[0] += steps
        if self.prime_end is not None:
            self.prime_end += steps
        while self.gone and self.gone[-1][0] > self.ideal:
            self.old.insert(0, self.gone.pop())

    def prime(self, volume_nl, delivered_steps):
        """Priming moves ceil(volume / step) steps counted from the steps already delivered."""
        self.prime_end = delivered_steps + -(-volume_nl // self.nl_per_step)

    def refill(self, new_conc, catheter_nl, delivered_steps):
        """A new concentration: the catheter's drug goes first, at its own strength, after any older ones."""
        new_conc = Fraction(new_conc)
        if new_conc != self.conc:
            self.boluses = []  # the program is validated again at the new strength: the boluses in progress end
        end = delivered_steps + -(-catheter_nl // self.nl_per_step)
        if new_conc != self.conc and catheter_nl > 0 and (not self.old or end > self.old[-1][0]):
            if self.old and (self.old[-1][1] == self.conc or len(self.old) == 4):
                self.old[-1] = [end, max(self.old[-1][1], self.conc)]  # the same drug, or merged: the stronger
                if len(self.old) > 1 and self.old[-2][1] == self.old[-1][1]:
                    del self.old[-2]  # merged into the strength of the one before: one drug with it
            else:
                self.old.append([end, self.conc])
        self.conc = new_conc
        self.cap_nl_per_day = None

    def set_cap(self, cap_nl_per_day):
        """The reservoir is empty: the rate is capped, and no bolus runs (in progress: cancelled; periodic: none)."""
        self.cap_nl_per_day = cap_nl_per_day
        self.boluses = []
