"""Console status line: one human-readable summary of the pump's state (cold path, once per interval)."""

from pump.alarms import NAME
from pump.calendar import iso_date
from pump.reservoir import STATE_NAMES


def _date_after(day, days):
    return "-" if days is None else iso_date(day + days)


def status_line(pump, now):
    """At ticks `now`: `2026-08-01 08:00 running rate 600.0 uL/day today 212 uL total 1234 uL res 18500 uL ok ...`"""
    day, ms_of_day = pump.plan.cal.at(now)
    minutes = ms_of_day // 60000
    rate_x10 = pump.plan.rate_num * 10 // (pump.plan.rate_den * 1000)
    low_days, empty_days = pump.projected_days()
    return "%s %02d:%02d %s rate %d.%d uL/day today %d uL total %d uL res %d uL %s low %s refill %s steps %d" % (
        iso_date(day), minutes // 60, minutes % 60, pump.mode_name, rate_x10 // 10, rate_x10 % 10,
        pump.c.delivered_today_nl // 1000, pump.c.total_ul, pump.reservoir.remaining_ul,
        STATE_NAMES[pump.reservoir.state], _date_after(day, low_days), _date_after(day, empty_days),
        pump.steps) + _alarm(pump)


def _alarm(pump):
    code = pump.safety.alarms.highest()
    return " ALARM %s" % NAME[code] if code else ""
