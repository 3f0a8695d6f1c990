"""Monotonic pump clock: seconds since the pump first ran, advanced from ticks and checkpointed, never the wall clock.

The safety limits that count time (patient-bolus lockout and daily maximum, the over-delivery windows, the schedule
phases after a clock correction) run on it, so setting the wall clock neither opens nor closes them. `s` is a small
int for 34 years (2**30 s); `advance(now)` is the hot path and must run at least once per ticks horizon (2**29 ms,
6.2 days): `Pump.tick` does, and the pump wakes at least daily, halted, held or suspended.
"""

from pump.compat import const, ticks_diff

MAX_CREDIT_MS = const(172800000)  # the most a reset's gap may add (two days): beyond a day every limit has run out


class MonoClock:
    """`s` whole seconds plus `ms` (0..999) since the pump first ran, as of ticks `_ref`."""

    def __init__(self, now=0, total_ms=0):
        self.set_ms(total_ms, now)

    def advance(self, now):
        """Move to ticks `now`; an earlier `now` (a late caller) changes nothing. Small ints only, no allocation."""
        dt = ticks_diff(now, self._ref)
        if dt <= 0:
            return
        self._ref = now
        ms = self.ms + dt
        if ms >= 1000:
            k = ms // 1000
            self.s += k
            ms -= k * 1000
        self.ms = ms

    def ms_at(self, now):
        """Milliseconds since the pump first ran at ticks `now` (within the ticks horizon of the last advance, before
        or after it), without moving the clock. Cold path: a big int after 12 days."""
        return self.s * 1000 + self.ms + ticks_diff(now, self._ref)

    def set_ms(self, total_ms, now):
        """Restore (at boot): `total_ms` since the pump first ran at ticks `now`."""
        s = total_ms // 1000  # not divmod: see pump.compat
        self.s = s
        self.ms = total_ms - s * 1000
        self._ref = now


def boot_times(rtc_ms, saved_wall_ms, saved_mono_ms, rtc_trusted=True):
    """(wall ms, monotonic ms) at boot from the RTC and the last checkpoint.

    The wall clock never runs back past the checkpoint (an RTC that lost power reads too early). The monotonic clock
    counts the gap since the checkpoint as far as the RTC vouches for it, at most MAX_CREDIT_MS: wall and monotonic
    time then move together across a reset, so the schedule does not shift against the over-delivery windows (a
    shift of minutes would raise a false hold in a flex program's steady state). An RTC that lost power gives no
    gap: both clocks resume from the checkpoint and the lost time is not counted (limits last longer, the safe side).
    `rtc_trusted` is False when a clock setting may have stopped between saving the new time and writing the RTC.
    """
    wall_ms = rtc_ms if rtc_trusted and rtc_ms > saved_wall_ms else saved_wall_ms
    return wall_ms, saved_mono_ms + min(wall_ms - saved_wall_ms, MAX_CREDIT_MS)
