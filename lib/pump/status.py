"""Console status line: the pump's state snapshot (pump.state) as one human-readable line (cold path, once per
interval)."""

from pump.alarms import NAME
from pump.calendar import iso_date
from pump.reservoir import STATE_NAMES as RESERVOIR_STATE_NAMES
from pump.state import STATE_NAMES


def _date_after(s, days):
    """The date `days` from now, or "in N d" while the clock is not known (a date from it would not be true)."""
    if days is None:
        return "-"
    return iso_date(s.day + days) if s.clock_known else "in %d d" % days


def status_line(s):
    """A PumpState as `2026-08-01 08:00 UTC running rate 600.0 uL/day today 212 uL total 1234 uL res 18500 uL ok low
    2026-08-30 empty 2026-09-04 refill 2026-08-30 steps 1060`: the reservoir's dates in the words of pump.reservoir.
    A clock not known reads `CLOCK NOT SET` where the time was, and the dates as days from now."""
    minutes = s.ms_of_day // 60000
    rate_x10 = s.rate_nl_per_day // 100
    when = "%s %02d:%02d UTC" % (iso_date(s.day), minutes // 60, minutes % 60) if s.clock_known else "CLOCK NOT SET"
    return ("%s %s rate %d.%d uL/day today %d uL total %d uL res %d uL %s low %s empty %s refill %s "
            "steps %d") % (
        when, STATE_NAMES[s.state], rate_x10 // 10, rate_x10 % 10,
        s.today_nl // 1000, s.total_ul, s.reservoir_nl // 1000, RESERVOIR_STATE_NAMES[s.reservoir_state],
        _date_after(s, s.low_days), _date_after(s, s.empty_days), _date_after(s, s.refill_days),
        s.steps) + (
        " ALARM %s" % NAME[s.alarm] if s.alarm else "")
