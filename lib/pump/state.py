"""The pump's state in one place: `therapy_state(pump)`, the one judgement of what therapy is doing (running,
suspended, held, stopped, priming, halted), and `PumpState`, a snapshot of everything shown about the pump (wall
clock, mode and state, rate, delivery, reservoir and its projected dates, battery, pressure, alarms) that the console
status line, the BLE status frame and the simulator read. `Pump.state(now)` fills one preallocated snapshot in
place: no allocation (the BLE status path runs under heap_lock in the tests); what needs big-int arithmetic (rate,
worst-case usage, battery percent) is recomputed only when its input changed.
"""

from pump.battery import dod_at
from pump.compat import const, ticks_diff
from pump.limits import usage_nl_per_day
from pump.reservoir import refill_days
from pump.therapy import MODE_STOPPED

# what therapy is doing (the BLE status frame's `state` byte: the numbers are the protocol's)
STATE_STOPPED = const(0)
STATE_RUNNING = const(1)
STATE_SUSPENDED = const(2)
STATE_PRIMING = const(3)
STATE_HELD = const(4)  # a safety hold: dosing waits for the resume command
STATE_HALTED = const(5)  # a task fault: no step until a reset
STATE_NAMES = ("stopped", "running", "suspended", "priming", "held", "halted")
NO_PROGRAM = const(255)
NO_BATTERY = const(255)
NO_PRESSURE = const(-32768)
NO_DAY = const(0xFFFF)  # a projected date that never comes (the BLE status frame's u16 days)
FLAG_CLOCK_UNSET = const(1)  # `flags` bit 0: the wall clock was never set, or was lost
_DAY_MS = const(86400000)
_U32 = 0xFFFFFFFF


def therapy_state(pump):
    """STATE_* of `pump` now: a task fault first, then priming, a safety hold, the program's mode, the user's
    suspend."""
    if pump.halted:
        return STATE_HALTED
    if pump.plan.prime_nl_left:
        return STATE_PRIMING
    if pump.safety.holding:
        return STATE_HELD
    t = pump.therapy
    if t is None or t.mode == MODE_STOPPED:
        return STATE_STOPPED
    return STATE_SUSPENDED if pump.suspended else STATE_RUNNING


class PumpState:
    """What the pump shows at one instant, filled by `fill(now)` (Pump.state): the same object every time, so a reader
    keeps the fields it needs, not the object. Projections are whole days at worst-case use, None where never."""

    def __init__(self, pump):
        self._pump = pump
        self.day = 0  # the schedule's local time (UTC + utc_offset_min): day since 2000-01-01 and ms of that day
        self.ms_of_day = 0
        self.t_s = 0  # wall clock, s since 2000-01-01 UTC (a small int until 2034)
        self.clock_known = True  # False: never set, or lost at a power cut (then day, t_s and dates are not true)
        self.mode = NO_PROGRAM  # the program's therapy mode (pump.therapy MODE_*), NO_PROGRAM without one
        self.state = STATE_STOPPED  # therapy_state
        self.rate_nl_per_day = 0  # the volume rate in force (program, priming, cap at empty, phases), whole nL/day
        self.today_nl = 0  # delivered since midnight
        self.total_ul = 0  # delivered since the first boot
        self.reservoir_nl = 0  # the reservoir estimate (never below 0)
        self.reservoir_state = 0  # pump.reservoir STATE_OK / STATE_LOW / STATE_EMPTY
        self.low_days = None  # days until the reservoir is low / empty at worst-case use
        self.empty_days = None
        self.refill_days = None  # days until the recommended refill date (pump.reservoir.refill_days)
        self.battery_pct = NO_BATTERY  # from the last hourly reading (model cell, docs/battery.md)
        # the battery forecast (pump.forecast): days to elective replacement and to end of service, None when it
        # cannot be computed (battery_reason says why: pump.forecast.REASON_NAMES); battery_short: the program's
        # rate allows no 90-day replacement warning
        self.eri_days = None
        self.eos_days = None
        self.battery_reason = 0
        self.battery_short = False
        self.pressure_kpa_x10 = NO_PRESSURE  # the last reading, NO_PRESSURE without a sensor
        self.alarms = 0  # bitmap of the active alarms (bit code-1)
        self.eri_day = NO_DAY  # the battery's elective-replacement date, day since 2000-01-01 (NO_DAY: no forecast)
        self.flags = 0  # FLAG_* bits (FLAG_CLOCK_UNSET)
        self.alarm = 0  # the highest-priority active alarm, 0: none
        self.steps = 0  # steps delivered since boot, modulo 2**30
        self._retimes = -1  # the dose plan's rate changes the rate was computed at
        self._therapy = self  # never a therapy: the first fill computes the usage
        self._usage = 0
        self._mv = -1

    def fill(self, now):
        """The snapshot at ticks `now`; returns self."""
        p = self._pump
        plan = p.plan
        cal = plan.cal
        ms = cal.ms_of_day + max(ticks_diff(now, cal.ref_ticks), 0)  # Calendar.at without its tuple
        day = cal.day
        while ms >= _DAY_MS:
            ms -= _DAY_MS
            day += 1
        self.day = day
        self.ms_of_day = ms
        self.t_s = day * 86400 + (ms - cal.offset_ms) // 1000  # UTC; day and ms_of_day are the schedule's local
        self.clock_known = p.clock_known
        if plan.retimes != self._retimes:
            self._retimes = plan.retimes
            self.rate_nl_per_day = min(plan.rate_num // plan.rate_den, _U32)
        t = p.therapy
        if t is not self._therapy:
            self._therapy = t
            self._usage = usage_nl_per_day(t)
        self.mode = NO_PROGRAM if t is None else t.mode
        self.state = therapy_state(p)
        c = p.c
        self.today_nl = c.delivered_today_nl
        self.total_ul = c.total_ul
        r = p.reservoir
        self.reservoir_nl = max(r.remaining_nl, 0)
        self.reservoir_state = r.state
        self.low_days = r.days_until(r.low_nl, self._usage)
        self.empty_days = r.days_until(r.empty_nl, self._usage)
        self.refill_days = refill_days(self.low_days, self.empty_days)
        safety = p.safety
        mv = safety.battery_mv
        if mv != self._mv:
            self._mv = mv
            self.battery_pct = (1000000 - dod_at(mv)) // 10000 if mv > 0 else NO_BATTERY
        f = p.forecast
        self.eri_days = f.eri_days
        self.eos_days = f.eos_days
        self.eri_day = NO_DAY if f.eri_days is None else min(day + f.eri_days, NO_DAY - 1)
        self.flags = 0 if self.clock_known else FLAG_CLOCK_UNSET
        self.battery_reason = f.reason
        self.battery_short = safety.battery_short
        self.pressure_kpa_x10 = NO_PRESSURE if p.hw.pressure is None else min(max(safety.last_p, -32767), 32767)
        alarms = safety.alarms
        self.alarms = alarms.active_bitmap
        self.alarm = alarms.highest()
        self.steps = p.steps
        return self
