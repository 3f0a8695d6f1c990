"""Dose plan: turns the active therapy, boluses, priming and the catheter's old drugs into one exact step rate and its
deadlines.

Everything the patient should receive is summed into a single dose rate and paced by the drug at the catheter tip
(volume rate = dose rate / tip concentration: a rational number of nL/day), so one StepTimer carries the phase across
every change: schedule steps, bolus start and end, suspend and resume, an old drug's segment running out at the tip.
Rate changes happen at *boundaries* (ticks) computed ahead, or at the very step that empties a segment of the
catheter queue; steps and boundaries are processed in time order even when the caller wakes late. Only `take_due`
runs per step; everything else is cold path. A clock correction phases the
schedule in over a day (pump.phases): meanwhile the schedule's rate is the least over the phases in force.
"""

from pump.calendar import MS_PER_DAY, Calendar
from pump.catheter import Catheter
from pump.compat import const, ticks_add, ticks_diff
# A bolus's kind is the event log's number (pump.events BOLUS_*: on the wire and in stored logs); these names are
# what the dose plan's callers and tests know them by.
from pump.events import BOLUS_CLINICIAN as KIND_CLINICIAN  # noqa: F401
from pump.events import BOLUS_PATIENT as KIND_PATIENT  # noqa: F401
from pump.events import BOLUS_PERIODIC as KIND_PERIODIC
from pump.monoclock import MonoClock
from pump.phases import Phases
from pump.steptimer import StepTimer, gcd, interval_for

_MAX_BOLUSES = const(3)
_MAX_BOUNDARY_MS = const(86400000)  # wake at least daily, well inside the ticks horizon


def _frac_add(a_num, a_den, b_num, b_den):
    num = a_num * b_den + b_num * a_den
    den = a_den * b_den
    g = gcd(num, den) or 1
    return num // g, den // g


class Bolus:
    """One bolus in progress: `dose_ng` spread evenly over `duration_ms`, ending at ticks `end`; `steps`: the
    over-delivery allowance the caller granted for it, handed back when it ends; `delivered_ng`: set when it ends."""

    def __init__(self, kind, dose_ng, duration_ms, end, steps=0):
        self.kind = kind
        self.dose_ng = dose_ng
        self.duration_ms = duration_ms
        self.end = end
        self.steps = steps
        self.delivered_ng = 0

    def stop(self, at):
        """It ends at ticks `at` (done or cancelled): `delivered_ng` is what its pacing gave, dose x elapsed /
        duration rounded down to whole ng (the whole dose at its end); big ints on a board, but cold path."""
        left = min(max(ticks_diff(self.end, at), 0), self.duration_ms)
        self.delivered_ng = self.dose_ng * (self.duration_ms - left) // self.duration_ms
        return self


class DosePlan:
    """Step deadlines for the current therapy; `take_due(now)` says how many steps to deliver now."""

    def __init__(self, nl_per_step, prime_nl_per_day, wall_s=0, now=0, mono=None, offset_s=0):
        """`mono`: the pump's monotonic clock (pump.monoclock), which times the schedule phases; its own if None.
        `offset_s`: the patient's local time - UTC, where the schedule's times of day are (pump.calendar)."""
        self.nl_per_step = nl_per_step
        self.prime_nl_per_day = prime_nl_per_day
        self.cal = Calendar(wall_s, now, offset_s)
        self.mono = mono if mono is not None else MonoClock(now)
        self.phases = Phases()  # earlier schedule phases still in force after a clock correction
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
        cancelled = self._cancel_boluses(now)
        self.therapy = therapy
        self.conc_ug_per_ml = conc_ug_per_ml
        self.running = run and therapy is not None and therapy.mode != 0
        self.retime(now)
        return cancelled

    def suspend(self, now):
        """Stop delivery keeping the phase; boluses and priming are cancelled (returned)."""
        cancelled = self._cancel_boluses(now)
        self.prime_nl_left = 0
        self.running = False
        self.retime(now)
        return cancelled

    def resume(self, now):
        self.running = self.therapy is not None and self.therapy.mode != 0
        self.retime(now)

    def start_bolus(self, now, kind, dose_ng, duration_ms, steps=0):
        """Start a bolus of a kind of pump.events (BOLUS_*); False with three running, or under a cap (empty)."""
        if len(self.boluses) >= _MAX_BOLUSES or self.cap_nl_per_day >= 0:
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
        """Cap the rate (reservoir empty); -1 removes the cap. No bolus runs under a cap (the pacing would count drug
        that never moves): those in progress are cancelled (returned), periodic ones do not start."""
        cancelled = []
        if cap_nl_per_day != self.cap_nl_per_day:
            if cap_nl_per_day >= 0:
                cancelled = self._cancel_boluses(now)
            self.cap_nl_per_day = cap_nl_per_day
            self.retime(now)
        return cancelled

    def set_wall_s(self, now, wall_s):
        """Place the schedule at once (at boot; a correction goes through correct_clock)."""
        self.cal.set_wall_s(wall_s, now)
        self.retime(now)

    def correct_clock(self, now, wall_ms):
        """A clock correction: the wall clock reads `wall_ms` at ticks `now`. The schedule so far stays in force a day
        longer as an earlier phase (pump.phases); a periodic bolus in progress goes on inside that phase's rate.
        E_STATE, nothing changed, when too many corrections are phasing in."""
        self.cal.sync(now)
        self.phases.correct(wall_ms - self.cal.wall_ms_at(now), self.mono.ms_at(now))
        if self.phases.shift_ms:
            self.boluses = [b for b in self.boluses if b.kind != KIND_PERIODIC]
        self.cal.set_wall_ms(wall_ms, now)
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
                if (self.prime_nl_left or catheter.n or catheter.behind) and self._volume_step(at):
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

    def _cancel_boluses(self, now):
        cancelled = self.boluses
        self.boluses = []
        for b in cancelled:
            b.stop(now)
        return cancelled

    def scheduled_ng_per_day(self):
        """(num, den) ng/day the schedule calls for now: the basal rate (periodic boluses run as Bolus objects), or
        while earlier phases are in force the least over the phases of basal plus periodic bolus."""
        therapy = self.therapy
        if not self.running or therapy is None:
            return 0, 1
        cal = self.cal
        if self.phases.shift_ms:
            return self.phases.rate(therapy, cal.weekday * MS_PER_DAY + cal.ms_of_day)
        return therapy.dose_ng_per_day_at(cal.weekday, cal.ms_of_day), 1

    def dose_rate_ng_per_day(self):
        """(num, den) ng/day of drug the patient should receive now, the schedule plus boluses."""
        num, den = self.scheduled_ng_per_day()
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
        self.mono.advance(now)  # (a no-op when the controller's tick did it)
        self._expire_phases(now)
        self.rate_num, self.rate_den = self.volume_rate()
        self.timer.set_interval(now, interval_for(self.rate_num, self.rate_den, self.nl_per_step))
        self.boundary = self._next_boundary(now)
        self.retimes += 1

    def _next_boundary(self, now):
        cal = self.cal
        best = _MAX_BOUNDARY_MS - cal.ms_of_day  # midnight: new weekday, daily counters, periodic boluses
        therapy = self.therapy
        phases = self.phases
        if phases.shift_ms:
            week_ms = cal.weekday * MS_PER_DAY + cal.ms_of_day
            leave = phases.next_leave_ms(therapy, self.mono.ms_at(now), week_ms)
            if leave is not None:
                best = min(best, leave)
            if therapy is not None and self.running:
                best = min(best, phases.next_change_ms(therapy, week_ms))
        elif therapy is not None and self.running:
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

    def _expire_phases(self, now):
        """Earlier schedule phases whose time is over leave (pump.phases.Phases.leave_ms); the calendar is at `now`."""
        phases = self.phases
        if phases.shift_ms:
            cal = self.cal
            phases.expire(self.therapy, self.mono.ms_at(now), cal.weekday * MS_PER_DAY + cal.ms_of_day)

    def _on_boundary(self, at):
        cal = self.cal
        cal.sync(at)
        self.mono.advance(at)
        keep = []
        for b in self.boluses:
            if ticks_diff(b.end, at) <= 0:
                self.finished.append(b.stop(at))
            else:
                keep.append(b)
        self.boluses = keep
        therapy = self.therapy
        self._expire_phases(at)
        if therapy is not None and self.running and self.cap_nl_per_day < 0 and not self.phases.shift_ms:
            bit = 1 << self.cal.weekday
            for start, dose_ng, duration_ms, mask in therapy.periodic_boluses:
                if mask & bit and start == self.cal.ms_of_day and len(self.boluses) < _MAX_BOLUSES:
                    self.boluses.append(Bolus(KIND_PERIODIC, dose_ng, duration_ms, ticks_add(at, duration_ms)))
        self.retime(at)
