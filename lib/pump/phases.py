"""Schedule phases after a clock correction: the schedule as it ran before stays in force for a day beside the one the
new wall clock places, and the programmed rate is the least of them (docs/safety.md, clock corrections).

The basal schedule and the periodic boluses follow the wall clock's time of day and weekday, so a correction applied
at once would replay or skip hours of the program: up to a day's drug more in 24 h, and a false over-delivery hold.
A phase is a schedule clock: the wall clock shifted by `shift_ms` (modulo a week); the current phase has shift 0.
For any 24 h starting at an instant a, the phase current at a stays in force until 24 h after the next correction,
so at every instant of those 24 h the rate is at most that phase's own program: they hold no more than the program
allows in 24 h. While earlier phases are in force the periodic boluses are part of each phase's rate (no bolus of
their own starts). Cold path only: big ints allowed.
"""

from pump.compat import const
from pump.errors import E_RANGE, E_STATE, PumpError

MAX_PHASES = const(4)  # the current schedule and three earlier ones
TRANSITION_S = const(86400)  # an earlier phase stays this long after the correction that ended it
DAY_MS = const(86400000)
WEEK_MS = const(604800000)


class Phases:
    """The earlier schedule phases in force: `shift_ms[i]` (1 .. WEEK_MS - 1: that schedule clock minus the wall
    clock) and `until_s[i]` (the monotonic second from which it may leave)."""

    def __init__(self):
        self.shift_ms = []
        self.until_s = []

    def correct(self, step_ms, mono_ms):
        """The wall clock moves by `step_ms` at monotonic `mono_ms`: the schedule in force so far becomes an earlier
        phase until a day later (rounded up to a whole second). An earlier phase the new clock meets again is the
        current schedule itself and leaves (two earlier phases never meet: each met the current one first). E_STATE,
        nothing changed, when more than MAX_PHASES would be in force."""
        shifts = []
        untils = []
        for i in range(len(self.shift_ms)):
            _keep(shifts, untils, (self.shift_ms[i] - step_ms) % WEEK_MS, self.until_s[i])
        _keep(shifts, untils, (-step_ms) % WEEK_MS, -(-mono_ms // 1000) + TRANSITION_S)
        if len(shifts) >= MAX_PHASES:
            wait_min = max((min(self.until_s) * 1000 - mono_ms) // 60000 + 1, 1)  # (one may wait for a bolus's end)
            # (within the 48 bytes a BLE answer carries)
            raise PumpError(E_STATE, "wall_s: %d corrections phasing in, wait %d min" % (len(self.shift_ms), wait_min))
        self.shift_ms = shifts
        self.until_s = untils

    def restore(self, shifts, untils):
        """The phases from a checkpoint; a record out of range (a corrupt one) raises E_RANGE and changes nothing."""
        if len(shifts) != len(untils) or len(shifts) >= MAX_PHASES:
            raise PumpError(E_RANGE, "phases")
        for sh in shifts:
            if not 0 < sh < WEEK_MS:
                raise PumpError(E_RANGE, "phases")
        self.shift_ms = list(shifts)
        self.until_s = list(untils)

    def leave_ms(self, i, therapy, mono_ms, week_ms):
        """Monotonic ms at which phase i leaves: its until; or, when the current schedule (at `week_ms` of its week at
        monotonic `mono_ms`) runs a periodic bolus at that instant that started before it, that bolus's end, so the
        bolus is not cut short (no Bolus object would run the rest). A function of the state alone: the same at any
        time it is asked, after a reset too."""
        until = self.until_s[i] * 1000
        if therapy is not None:
            p = periodic_at(therapy, (week_ms - mono_ms + until) % WEEK_MS)
            if p is not None and p[0] > 0:
                return until + p[2] - p[0]
        return until

    def expire(self, therapy, mono_ms, week_ms):
        """Drop the phases whose time is over at monotonic `mono_ms` (see leave_ms)."""
        shifts = []
        untils = []
        for i in range(len(self.shift_ms)):
            if self.leave_ms(i, therapy, mono_ms, week_ms) > mono_ms:
                shifts.append(self.shift_ms[i])
                untils.append(self.until_s[i])
        self.shift_ms = shifts
        self.until_s = untils

    def next_leave_ms(self, therapy, mono_ms, week_ms):
        """ms from monotonic `mono_ms` to the next phase's leaving time still ahead, or None."""
        best = None
        for i in range(len(self.shift_ms)):
            dt = self.leave_ms(i, therapy, mono_ms, week_ms) - mono_ms
            if dt > 0 and (best is None or dt < best):
                best = dt
        return best

    def rate(self, therapy, at_ms):
        """(num, den) ng/day: the least over the phases in force of the program's rate at `at_ms` of the wall
        clock's week shifted to each phase."""
        num, den = scheduled_rate(therapy, at_ms)
        for sh in self.shift_ms:
            n, d = scheduled_rate(therapy, (at_ms + sh) % WEEK_MS)
            if n * den < num * d:
                num, den = n, d
        return num, den

    def next_change_ms(self, therapy, at_ms):
        """ms to the next instant any phase's scheduled rate may change."""
        best = next_change_ms(therapy, at_ms)
        for sh in self.shift_ms:
            best = min(best, next_change_ms(therapy, (at_ms + sh) % WEEK_MS))
        return best


def _keep(shifts, untils, shift, until):
    if shift:  # (shift 0: the current schedule itself, always in force)
        shifts.append(shift)
        untils.append(until)


def periodic_at(therapy, at_ms):
    """(ms since its start, dose_ng, duration_ms) of the periodic bolus the program runs at `at_ms` of its week (from
    its start, inclusive, to its end, exclusive; across midnight and the week's end too), or None. Periodic boluses
    never overlap (the therapy parser refuses it)."""
    for start, dose_ng, duration_ms, mask in therapy.periodic_boluses:
        for day in range(7):
            if mask >> day & 1:
                since = (at_ms - day * DAY_MS - start) % WEEK_MS
                if since < duration_ms:
                    return since, dose_ng, duration_ms
    return None


def scheduled_rate(therapy, at_ms):
    """(num, den) ng/day the program calls for at `at_ms` of its week (Monday 00:00 is 0): the basal rate plus the
    periodic bolus running then."""
    day = at_ms // DAY_MS
    basal = therapy.dose_ng_per_day_at(day, at_ms - day * DAY_MS)
    p = periodic_at(therapy, at_ms)
    if p is None:
        return basal, 1
    return basal * p[2] + p[1] * DAY_MS, p[2]


def next_change_ms(therapy, at_ms):
    """ms from `at_ms` of the week to the next instant the scheduled rate may change (a basal step, midnight, a
    periodic bolus's start or end): 1 ms to a day."""
    day = at_ms // DAY_MS
    ms = at_ms - day * DAY_MS
    best = DAY_MS - ms
    for start, _dose in therapy.schedule_for(day):
        if start > ms:
            best = min(best, start - ms)
            break
    for start, _dose, duration_ms, mask in therapy.periodic_boluses:
        for d in range(7):
            if mask >> d & 1:
                begin = d * DAY_MS + start
                for edge in (begin, begin + duration_ms):
                    dt = (edge - at_ms) % WEEK_MS
                    if 0 < dt < best:
                        best = dt
    return best
