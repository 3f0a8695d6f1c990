"""Reservoir accounting: fill volume minus every step delivered, thresholds, and projected low and empty dates."""

from pump.compat import const

STATE_OK = const(0)
STATE_LOW = const(1)
STATE_EMPTY = const(2)
STATE_NAMES = ("ok", "low", "empty")


class Reservoir:
    """Remaining drug in nL; `delivered(nl)` is the hot path and only compares small ints."""

    def __init__(self, low_nl, empty_nl):
        self.low_nl = low_nl
        self.empty_nl = empty_nl
        self.fill_nl = 0
        self.remaining_nl = 0
        self.state = STATE_EMPTY
        self._next_nl = -1  # the level whose crossing changes the state

    def fill(self, volume_nl):
        self.fill_nl = volume_nl
        self.restore(volume_nl)

    def restore(self, remaining_nl):
        self.remaining_nl = remaining_nl
        self._update()

    def delivered(self, nl):
        """Account for nl moved out; True when the state changed (then read `state`)."""
        self.remaining_nl -= nl
        if self.remaining_nl <= self._next_nl:
            return self._update()
        return False

    def _update(self):
        old = self.state
        r = self.remaining_nl
        if r <= self.empty_nl:
            self.state, self._next_nl = STATE_EMPTY, -0x3FFFFFFF
        elif r <= self.low_nl:
            self.state, self._next_nl = STATE_LOW, self.empty_nl
        else:
            self.state, self._next_nl = STATE_OK, self.low_nl
        return self.state != old

    @property
    def remaining_ul(self):
        return max(self.remaining_nl, 0) // 1000

    def days_until(self, level_nl, usage_nl_per_day):
        """Whole days until the remaining volume falls to level_nl at usage_nl_per_day (None: never)."""
        above = self.remaining_nl - level_nl
        if above <= 0:
            return 0
        if usage_nl_per_day <= 0:
            return None
        return above // usage_nl_per_day


# The reservoir's dates, one vocabulary in every tool and document (docs/safety.md, "The reservoir's dates"):
#   low date: the reservoir reaches the low threshold (low_reservoir_ul) at worst-case use (every patient bolus taken);
#   empty date: it reaches the empty threshold at worst-case use;
#   recommended refill date: REFILL_RULE, computed by refill_days() alone.
REFILL_RULE = "the low date at worst-case use"


def refill_days(low_days, empty_days):
    """Days until the recommended refill date: the low date (REFILL_RULE), so the refill comes before the low alarm,
    with the days to the empty date (`empty_days`) as the margin; 0 once the reservoir is low; None when it never runs
    low (nothing is being used)."""
    return low_days
