"""BLE telemetry payloads: the status and alarm layouts (struct formats shared with tools/pumplink/proto.py),
packed from the pump's state snapshot (pump.state: what the console status line shows too), allocation-free.

Status, version 2 (34 bytes, "<IBBIIIIHBIhHB"): t_s u32 (wall clock, s since 2000-01-01), mode u8 (therapy mode,
255: no program), state u8 (pump.state STATE_*), rate_nl_per_day u32, today_nl u32, total_ul u32, reservoir_nl u32,
empty_day u16 (day since 2000-01-01 the reservoir reaches empty at worst-case use, 65535: never), battery_pct u8
(255: not read yet), alarms u32 (bit code-1 per active alarm, codes 1-32), pressure_kpa_x10 i16 (-32768: no
sensor), eri_day u16 (the battery's elective-replacement date, 65535: no forecast), flags u8 (bit 0: the clock was
never set or was lost). The values meaning "none" are pump.state's NO_*. Version 1 (29 bytes, "<IBBIIIIHBHh",
before the secure session) had a u16 alarm bitmap and ended at the pressure.

Alarm (9 bytes, "<BBIHB"): code u8 (highest-priority active alarm, 0: none), priority u8, since_s u32 (when it was
raised, s since 2000-01-01), alarms u16 (active bitmap), sounding u8 (the alarm the buzzer plays, 0: none/silenced).
"""

import struct

from pump.alarms import PRIORITY
from pump.compat import const, ticks_diff

STATUS = "<IBBIIIIHBIhHB"
STATUS_LEN = const(34)
STATUS_VERSION = const(2)  # told by the length: version 1 was 29 bytes
STATUS_V1 = "<IBBIIIIHBHh"  # what the host decoders still read (recordings made before version 2)
ALARM = "<BBIHB"
ALARM_LEN = const(9)
NO_DAY = const(0xFFFF)  # pump.state.NO_DAY
_BITMAP = const(0xFFFF)  # the alarm payload's bitmap is u16 (alarm codes 1-16; the status carries all 32)


class Telemetry:
    """Packs the Pump's status and alarm payloads into caller buffers."""

    def __init__(self, pump):
        self.pump = pump

    def status(self, buf, now):
        """Pack the status payload at ticks `now` into buf[0:34]."""
        s = self.pump.state(now)
        days = s.empty_days
        struct.pack_into(STATUS, buf, 0, s.t_s, s.mode, s.state, s.rate_nl_per_day, s.today_nl, s.total_ul,
                         s.reservoir_nl, NO_DAY if days is None else min(s.day + days, NO_DAY - 1), s.battery_pct,
                         s.alarms, s.pressure_kpa_x10, s.eri_day, s.flags)

    def alarm(self, buf, now):
        """Pack the alarm payload at ticks `now` into buf[0:9] (cold path: alarms change rarely)."""
        alarms = self.pump.alarms
        code = alarms.highest()
        since = 0
        if code:  # from ticks: exact for 6 days back; an alarm raised before that reads as raised now
            since = self.pump.state(now).t_s - max(ticks_diff(now, alarms.since_ms[code]), 0) // 1000
        struct.pack_into(ALARM, buf, 0, code, PRIORITY.get(code, 0), max(since, 0), alarms.active_bitmap & _BITMAP,
                         alarms.sounding(now))
