"""Console status line: the pump's state snapshot (pump.state) as one human-readable line (cold path, once per
interval)."""

from pump.alarms import NAME
from pump.calendar import iso_date
from pump.forecast import REASON_NAMES
from pump.reservoir import STATE_NAMES as RESERVOIR_STATE_NAMES
from pump.state import STATE_NAMES


def _date_after(s, days):
    """The date `days` from now, or "in N d" while the clock is not known (a date from it would not be true)."""
    if days is None:
        return "-"
    return iso_date(s.day + days) if s.clock_known else "in %d d" % days


def status_line(s):
    """A PumpState as `2026-08-01 08:00 UTC running rate 600.0 uL/day today 212 uL total 1234 uL res 18500 uL ok low
    2026-08-30 empty 2026-09-04 refill 2026-08-30 steps 1060 eri 2029-03-02 eos 2029-06-01`: the reservoir's dates
    in the words of pump.reservoir, the battery forecast's (pump.forecast) or why there is none
    (`battery no-battery-reading-yet`), `no-90-day-warning` when the program's rate allows none.
    A clock not known reads `CLOCK NOT SET` where the time was, and the dates as days from now."""
    day = s.t_s // 86400  # UTC (the schedule's local day may differ: utc_offset_min)
    minutes = (s.t_s - day * 86400) // 60
    rate_x10 = s.rate_nl_per_day // 100
    when = "%s %02d:%02d UTC" % (iso_date(day), minutes // 60, minutes % 60) if s.clock_known else "CLOCK NOT SET"
    if s.eri_days is None:
        battery = "battery %s" % REASON_NAMES[s.battery_reason].replace(" ", "-")
    else:
        battery = "eri %s eos %s" % (_date_after(s, s.eri_days), _date_after(s, s.eos_days))
    return ("%s %s rate %d.%d uL/day today %d uL total %d uL res %d uL %s low %s empty %s refill %s "
            "steps %d %s%s") % (
        when, STATE_NAMES[s.state], rate_x10 // 10, rate_x10 % 10,
        s.today_nl // 1000, s.total_ul, s.reservoir_nl // 1000, RESERVOIR_STATE_NAMES[s.reservoir_state],
        _date_after(s, s.low_days), _date_after(s, s.empty_days), _date_after(s, s.refill_days),
        s.steps, battery, " no-90-day-warning" if s.battery_short else "") + (
        " ALARM %s" % NAME[s.alarm] if s.alarm else "")
