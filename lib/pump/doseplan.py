"""Dose plan: turns the active therapy, boluses, priming and the catheter's old drugs into one exact step rate and its
deadlines.

Everything the patient should receive is summed into a single dose rate and paced by the drug at the catheter tip
(volume rate = dose rate / tip concentration: a rational number of nL/day), so one StepTimer carries the phase across
every change: schedule steps, bolus start and end, suspend and resume, an old drug's segment running out at the tip.
Rate changes happen at *boundaries* (ticks) computed ahead, or at the very step that empties a segment of the
catheter queue; steps and boundaries are processed in time order even when the caller wakes late. Only `take_due`
runs per step; everything else is cold path.
"""

from pump.calendar import MS_PER_DAY, Calendar
from pump.catheter import Catheter
from pump.compat import const, ticks_add, ticks_diff
from pump.steptimer import StepTimer, gcd, interval_for

KIND_CLINICIAN = const(1)
KIND_PATIENT = const(2)
KIND_PERIODIC = const(3)
_MAX_BOLUSES = const(3)
_MAX_BOUNDARY_MS = const(86400000)  # wake at least daily, well inside the ticks horizon


def _frac_add(a_num, a_den, b_num, b_den):
    num = a_num * b_den + b_num * a_den
    den = a_den * b_den
    g = gcd(num, den) or 1
    return num // g, den // g


class Bolus:
    """One bolus in progress: `dose_ng` spread evenly over `duration_ms`, ending at ticks `end`; `steps`: the
    over-delivery allowance the caller granted for it, handed back when it ends."""

    def __init__(self, kind, dose_ng, duration_ms, end, steps=0):
        self.kind = kind
        self.dose_ng = dose_ng
        self.duration_ms = duration_ms
        self.end = end
        self.steps = steps


class DosePlan:
    """Step deadlines for the current therapy; `take_due(now)` says how many steps to deliver now."""

    def __init__(self, nl_per_step, prime_nl_per_day, wall_s=0, now=0):
        self.nl_per_step = nl_per_step
        self.prime_nl_per_day = prime_nl_per_day
        self.cal = Calendar(wall_s, now)
        self.timer = StepTimer()
        self.therapy = None
        self.conc_ug_per_ml = 0  # drug in the reservoir (and in the catheter behind the queue's old drugs)
        self.catheter = Catheter()
        self.running = False  # therapy running (not stopped, not suspended)
        self.boluses = []
        self.prime_nl_left = 0
        self.cap_nl_per_day = -1  # reservoir empty: rate capped to this (-1: no cap)
        self.rate_num = 0  # current volume rate, nL/day = rate_num / rate_den
        self.rate_den = 1
        self.boundary = ticks_add(now, _MAX_BOUNDARY_MS)
        self.finished = []  # the Bolus objects ended since the caller last looked
        self.retimes = 0

    # ---- commands (cold path) ----
    def set_therapy(self, now, therapy, conc_ug_per_ml, run=True):
        """Adopt a validated therapy (running unless `run` is False); boluses in progress are cancelled, returned."""
        cancelled = self._cancel_boluses()
        self.therapy = therapy
        self.conc_ug_per_ml = conc_ug_per_ml
        self.running = run and therapy is not None and therapy.mode != 0
        self.retime(now)
        return cancelled

    def suspend(self, now):
        """Stop delivery keeping the phase; boluses and priming are cancelled (returned)."""
        cancelled = self._cancel_boluses()
        self.prime_nl_left = 0
        self.running = False
        self.retime(now)
        return cancelled

    def resume(self, now):
        self.running = self.therapy is not None and self.therapy.mode != 0
        self.retime(now)

    def start_bolus(self, now, kind, dose_ng, duration_ms, steps=0):
        if len(self.boluses) >= _MAX_BOLUSES:
            return False
        self.boluses.append(Bolus(kind, dose_ng, duration_ms, ticks_add(now, duration_ms), steps))
        self.retime(now)
        return True

    def start_prime(self, now, volume_nl):
        self.prime_nl_left = volume_nl
        self.retime(now)

    def refill(self, now, conc_ug_per_ml, catheter_nl):
        """New drug in the reservoir: with a new strength, the catheter's part holding the old reservoir drug joins the
        queue of old drugs first (each goes at its own strength, in turn)."""
        if self.conc_ug_per_ml and conc_ug_per_ml != self.conc_ug_per_ml:
            self.catheter.refilled(catheter_nl, self.conc_ug_per_ml)
        self.conc_ug_per_ml = conc_ug_per_ml
        self.retime(now)

    def set_cap(self, now, cap_nl_per_day):
        """Cap the rate (reservoir empty); -1 removes the cap."""
        if cap_nl_per_day != self.cap_nl_per_day:
            self.cap_nl_per_day = cap_nl_per_day
            self.retime(now)

    def set_wall_s(self, now, wall_s):
        self.cal.set_wall_s(wall_s, now)
        self.retime(now)

    def reset_phase(self, now):
        self.timer.reset_phase(now)

    # ---- hot path ----
    def take_due(self, now, limit):
        """Number of steps due by ticks `now` (at most `limit`), processing boundaries in time order."""
        timer = self.timer
        catheter = self.catheter
        n = 0
        while n < limit:
            due = timer.running and ticks_diff(now, timer.deadline) >= 0
            if due and ticks_diff(self.boundary, timer.deadline) >= 0:
                at = timer.deadline
                timer.stepped()
                n += 1
                if (self.prime_nl_left or catheter.n) and self._volume_step(at):
                    break  # the tip's drug changed: let the caller re-bound over-delivery before counting further
            elif ticks_diff(now, self.boundary) >= 0:
                day = self.cal.day
                self._on_boundary(self.boundary)
                if self.cal.day != day:
                    break  # a new day: let the caller close the old one before counting further steps
            else:
                break
        return n

    def next_deadline(self):
        """Ticks of the next step or boundary, whichever comes first."""
        if self.timer.running and ticks_diff(self.boundary, self.timer.deadline) > 0:
            return self.timer.deadline
        return self.boundary

    # ---- rate and boundaries (cold path) ----
    def _volume_step(self, at):
        """A step moved the catheter (priming too pushes its contents out); True when the tip's drug changed."""
        nl = self.nl_per_step
        tip_changed = self.catheter.moved(nl)
        if self.prime_nl_left:
            self.prime_nl_left = max(0, self.prime_nl_left - nl)
            if not self.prime_nl_left:
                self.retime(at)
                return tip_changed
        if tip_changed:
            self.retime(at)  # from the next step on, the next drug's volume rate
        return tip_changed

    def _cancel_boluses(self):
        cancelled = self.boluses
        self.boluses = []
        return cancelled

    def basal_ng_per_day(self):
        therapy = self.therapy
        if not self.running or therapy is None:
            return 0
        return therapy.dose_ng_per_day_at(self.cal.weekday, self.cal.ms_of_day)

    def dose_rate_ng_per_day(self):
        """(num, den) ng/day of drug the patient should receive now, basal plus boluses."""
        num, den = self.basal_ng_per_day(), 1
        for b in self.boluses:
            num, den = _frac_add(num, den, b.dose_ng * MS_PER_DAY, b.duration_ms)
        return num, den

    def volume_rate(self):
        """(num, den) nL/day the mechanism should move now."""
        if self.prime_nl_left:
            return self.prime_nl_per_day, 1
        num, den = self.dose_rate_ng_per_day()
        conc = self.tip_conc()
        if num == 0 or conc <= 0:
            return 0, 1
        num, den = num * 1000, den * conc  # ng/day / (ug/mL) = uL/day; * 1000 = nL/day
        g = gcd(num, den)
        num, den = num // g, den // g
        if self.cap_nl_per_day >= 0 and num > self.cap_nl_per_day * den:
            return self.cap_nl_per_day, 1
        return num, den

    def tip_conc(self):
        """Concentration (ug/mL) of the drug at the catheter tip: the one the dose is paced by now."""
        return self.catheter.tip_conc(self.conc_ug_per_ml)

    def retime(self, now):
        """Recompute the rate and the next boundary at ticks `now`, carrying the step phase."""
        self.cal.sync(now)
        self.rate_num, self.rate_den = self.volume_rate()
        self.timer.set_interval(now, interval_for(self.rate_num, self.rate_den, self.nl_per_step))
        self.boundary = self._next_boundary(now)
        self.retimes += 1

    def _next_boundary(self, now):
        cal = self.cal
        best = _MAX_BOUNDARY_MS - cal.ms_of_day  # midnight: new weekday, daily counters, periodic boluses
        therapy = self.therapy
        if therapy is not None and self.running:
            for start, _dose in therapy.schedule_for(cal.weekday):
                if start > cal.ms_of_day:
                    best = min(best, start - cal.ms_of_day)
                    break
            bit = 1 << cal.weekday
            for start, _dose, _dur, mask in therapy.periodic_boluses:
                if mask & bit and start > cal.ms_of_day:
                    best = min(best, start - cal.ms_of_day)
        for b in self.boluses:
            best = min(best, ticks_diff(b.end, now))
        return ticks_add(now, max(best, 0))

    def _on_boundary(self, at):
        self.cal.sync(at)
        keep = []
        for b in self.boluses:
            if ticks_diff(b.end, at) <= 0:
                self.finished.append(b)
            else:
                keep.append(b)
        self.boluses = keep
        therapy = self.therapy
        if therapy is not None and self.running:
            bit = 1 << self.cal.weekday
            for start, dose_ng, duration_ms, mask in therapy.periodic_boluses:
                if mask & bit and start == self.cal.ms_of_day and len(self.boluses) < _MAX_BOLUSES:
                    self.boluses.append(Bolus(KIND_PERIODIC, dose_ng, duration_ms, ticks_add(at, duration_ms)))
        self.retime(at)
