"""BLE telemetry payloads: the status and alarm layouts (struct formats shared with tools/pumplink/proto.py) and their
snapshot of the Pump, allocation-free: what needs big-int arithmetic (rate, worst-case usage, battery percent) is
recomputed only when its input changed.

Status (29 bytes, "<IBBIIIIHBHh"): t_s u32 (wall clock, s since 2000-01-01), mode u8 (therapy mode, 255: no
program), state u8 (STATE_*), rate_nl_per_day u32, today_nl u32, total_ul u32, reservoir_nl u32, refill_day u16
(day since 2000-01-01 the reservoir reaches empty at worst-case use, 65535: never), battery_pct u8 (255: not read
yet), alarms u16 (bit code-1 per active alarm, codes 1-16: later codes show only as the alarm payload's code),
pressure_kpa_x10 i16 (-32768: no sensor).

Alarm (9 bytes, "<BBIHB"): code u8 (highest-priority active alarm, 0: none), priority u8, since_s u32 (when it was
raised, s since 2000-01-01), alarms u16 (active bitmap), sounding u8 (the alarm the buzzer plays, 0: none/silenced).
"""

import struct

from pump.alarms import PRIORITY
from pump.battery import dod_at
from pump.compat import const, ticks_diff
from pump.therapy import MODE_STOPPED

STATUS = "<IBBIIIIHBHh"
STATUS_LEN = const(29)
ALARM = "<BBIHB"
ALARM_LEN = const(9)
STATE_STOPPED = const(0)
STATE_RUNNING = const(1)
STATE_SUSPENDED = const(2)
STATE_PRIMING = const(3)
STATE_HELD = const(4)  # a safety hold: dosing waits for the resume command
STATE_HALTED = const(5)  # a task fault: no step until a reset
STATE_NAMES = ("stopped", "running", "suspended", "priming", "held", "halted")
NO_PROGRAM = const(255)
NO_DAY = const(0xFFFF)
NO_BATTERY = const(255)
NO_PRESSURE = const(-32768)
_DAY_MS = const(86400000)
_U32 = 0xFFFFFFFF
_BITMAP = const(0xFFFF)  # the frames' alarm bitmaps are u16 (alarm codes 1-16)


class Telemetry:
    """Packs the Pump's status and alarm payloads into caller buffers."""

    def __init__(self, pump):
        self.pump = pump
        self._retimes = -1
        self._rate = 0
        self._therapy = self  # never a therapy: the first status computes the usage
        self._usage = 0
        self._mv = -1
        self.battery_pct = NO_BATTERY

    def wall_s(self, now):
        """Wall clock at ticks `now` in s since 2000-01-01, without the calendar's tuple (a small int until 2034)."""
        cal = self.pump.plan.cal
        ms = cal.ms_of_day + max(ticks_diff(now, cal.ref_ticks), 0)
        day = cal.day
        while ms >= _DAY_MS:
            ms -= _DAY_MS
            day += 1
        return day * 86400 + ms // 1000

    def battery(self):
        """Battery percent from the last reading (model cell, docs/battery.md), NO_BATTERY before one."""
        mv = self.pump.safety.battery_mv
        if mv != self._mv:
            self._mv = mv
            self.battery_pct = (1000000 - dod_at(mv)) // 10000 if mv > 0 else NO_BATTERY
        return self.battery_pct

    def status(self, buf, now):
        """Pack the status payload into buf[0:29]."""
        p = self.pump
        plan = p.plan
        if plan.retimes != self._retimes:
            self._retimes = plan.retimes
            self._rate = min(plan.rate_num // plan.rate_den, _U32)
        t = p.therapy
        if t is not self._therapy:
            self._therapy = t
            self._usage = p.usage_nl_per_day()
        r = p.reservoir
        days = r.days_until(r.empty_nl, self._usage)
        safety = p.safety
        if p.halted:
            state = STATE_HALTED
        elif plan.prime_nl_left:
            state = STATE_PRIMING
        elif safety.holding:
            state = STATE_HELD
        elif t is None or t.mode == MODE_STOPPED:
            state = STATE_STOPPED
        else:
            state = STATE_SUSPENDED if p.suspended else STATE_RUNNING
        pressure = NO_PRESSURE
        if p.hw.pressure is not None:
            pressure = min(max(safety.last_p, -32767), 32767)
        struct.pack_into(STATUS, buf, 0, self.wall_s(now), NO_PROGRAM if t is None else t.mode, state, self._rate,
                         p.c.delivered_today_nl, p.c.total_ul, max(r.remaining_nl, 0),
                         NO_DAY if days is None else min(plan.cal.day + days, NO_DAY - 1), self.battery(),
                         safety.alarms.active_bitmap & _BITMAP, pressure)

    def alarm(self, buf, now):
        """Pack the alarm payload into buf[0:9] (cold path: alarms change rarely)."""
        alarms = self.pump.safety.alarms
        code = alarms.highest()
        since = 0
        if code:  # from ticks: exact for 6 days back; an alarm raised before that reads as raised now
            since = self.wall_s(now) - max(ticks_diff(now, alarms.since_ms[code]), 0) // 1000
        struct.pack_into(ALARM, buf, 0, code, PRIORITY.get(code, 0), max(since, 0), alarms.active_bitmap & _BITMAP,
                         alarms.sounding(now))
