"""Alarm codes and priorities (docs/safety.md), latching, acknowledge, silence, repeat, and who owns the buzzer.

An alarm is raised by its condition and stays active until the condition is gone **and** it was acknowledged; a
condition that returns after the alarm cleared is a new occurrence (logged again). Silencing mutes the alarms active
at that moment for at most SILENCE_MAX_MS; an alarm raised during a silence sounds at once. A "repeated" alarm
(BATTERY_ERI) that was acknowledged while its condition persists becomes unacknowledged again after its repeat time.
Time-driven changes (end of a silence, a repeat) are applied by `advance(now)`, due at `next_deadline(now)`;
`sounding(now)` already takes them into account. The per-step calls (`set_condition` on an active alarm or for an
absent condition, `is_active`, `sounding`) allocate nothing.
"""

from pump import events as ev
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import E_RANGE, PumpError

# Stable numbers: never renumber, only append (docs/safety.md).
A_OCCLUSION = const(1)
A_RESERVOIR_EMPTY = const(2)
A_RESERVOIR_LOW = const(3)
A_BATTERY_EOS = const(4)
A_BATTERY_ERI = const(5)
A_MOTOR_STALL = const(6)
A_OVER_DELIVERY = const(7)
A_PRESSURE_SENSOR_FAULT = const(8)
A_BATTERY_SENSOR_FAULT = const(9)
A_OCCLUSION_SENSING_UNAVAILABLE = const(10)
A_WATCHDOG_RESET = const(11)
A_TASK_FAULT = const(12)
A_STORE_CORRUPT = const(13)
A_PROGRAM_FALLBACK = const(14)
A_STATE_LOST = const(15)
A_COMMAND_COUNTERS_LOST = const(16)
A_DRUG_LIBRARY_FAULT = const(17)
A_REFILL_DISCREPANCY = const(18)
A_CLOCK_NOT_SET = const(19)
_N = const(19)  # highest code

PRIO_LOW = const(1)
PRIO_MEDIUM = const(2)
PRIO_HIGH = const(3)

SILENCE_MAX_MS = const(120000)
REPEAT_MS = const(86400000)  # BATTERY_ERI reminder after an acknowledgement (24 h, inside the ticks horizon)

NAME = {
    A_OCCLUSION: "OCCLUSION",
    A_RESERVOIR_EMPTY: "RESERVOIR_EMPTY",
    A_RESERVOIR_LOW: "RESERVOIR_LOW",
    A_BATTERY_EOS: "BATTERY_EOS",
    A_BATTERY_ERI: "BATTERY_ERI",
    A_MOTOR_STALL: "MOTOR_STALL",
    A_OVER_DELIVERY: "OVER_DELIVERY",
    A_PRESSURE_SENSOR_FAULT: "PRESSURE_SENSOR_FAULT",
    A_BATTERY_SENSOR_FAULT: "BATTERY_SENSOR_FAULT",
    A_OCCLUSION_SENSING_UNAVAILABLE: "OCCLUSION_SENSING_UNAVAILABLE",
    A_WATCHDOG_RESET: "WATCHDOG_RESET",
    A_TASK_FAULT: "TASK_FAULT",
    A_STORE_CORRUPT: "STORE_CORRUPT",
    A_PROGRAM_FALLBACK: "PROGRAM_FALLBACK",
    A_STATE_LOST: "STATE_LOST",
    A_COMMAND_COUNTERS_LOST: "COMMAND_COUNTERS_LOST",
    A_DRUG_LIBRARY_FAULT: "DRUG_LIBRARY_FAULT",
    A_REFILL_DISCREPANCY: "REFILL_DISCREPANCY",
    A_CLOCK_NOT_SET: "CLOCK_NOT_SET",
}

TEXT = {
    A_OCCLUSION: "occlusion",
    A_RESERVOIR_EMPTY: "reservoir empty",
    A_RESERVOIR_LOW: "reservoir low",
    A_BATTERY_EOS: "battery end of service",
    A_BATTERY_ERI: "replace battery",
    A_MOTOR_STALL: "motor stall",
    A_OVER_DELIVERY: "over-delivery",
    A_PRESSURE_SENSOR_FAULT: "pressure sensor fault",
    A_BATTERY_SENSOR_FAULT: "battery sensor fault",
    A_OCCLUSION_SENSING_UNAVAILABLE: "occlusion sensing unavailable",
    A_WATCHDOG_RESET: "watchdog reset",
    A_TASK_FAULT: "task fault",
    A_STORE_CORRUPT: "stored data corrupt",
    A_PROGRAM_FALLBACK: "program not the one applied",
    A_STATE_LOST: "pump state lost",
    A_COMMAND_COUNTERS_LOST: "command counters lost",
    A_DRUG_LIBRARY_FAULT: "drug library unusable",
    A_REFILL_DISCREPANCY: "refill volume does not add up",
    A_CLOCK_NOT_SET: "clock not set",
}

PRIORITY = {
    A_OCCLUSION: PRIO_HIGH,
    A_RESERVOIR_EMPTY: PRIO_HIGH,
    A_RESERVOIR_LOW: PRIO_MEDIUM,
    A_BATTERY_EOS: PRIO_HIGH,
    A_BATTERY_ERI: PRIO_LOW,
    A_MOTOR_STALL: PRIO_HIGH,
    A_OVER_DELIVERY: PRIO_HIGH,
    A_PRESSURE_SENSOR_FAULT: PRIO_HIGH,
    A_BATTERY_SENSOR_FAULT: PRIO_MEDIUM,
    A_OCCLUSION_SENSING_UNAVAILABLE: PRIO_LOW,
    A_WATCHDOG_RESET: PRIO_MEDIUM,
    A_TASK_FAULT: PRIO_HIGH,
    A_STORE_CORRUPT: PRIO_MEDIUM,
    A_PROGRAM_FALLBACK: PRIO_HIGH,
    A_STATE_LOST: PRIO_HIGH,
    A_COMMAND_COUNTERS_LOST: PRIO_MEDIUM,
    A_DRUG_LIBRARY_FAULT: PRIO_MEDIUM,
    A_REFILL_DISCREPANCY: PRIO_MEDIUM,
    A_CLOCK_NOT_SET: PRIO_LOW,
}

# code -> ms after an acknowledgement at which a still-present condition re-annunciates
REPEAT = {A_BATTERY_ERI: REPEAT_MS}

# Buzzer patterns, loosely after IEC 60601-1-8: pulse and gap durations in ms (on, off, on, ..., on), then the
# period from the start of one burst to the start of the next. A high-priority burst is the fastest and longest.
PATTERN = {
    PRIO_HIGH: (150, 100, 150, 100, 150, 100, 150, 100, 150, 10000),  # 5 pulses every 10 s
    PRIO_MEDIUM: (200, 200, 200, 200, 200, 20000),  # 3 pulses every 20 s
    PRIO_LOW: (250, 250, 250, 60000),  # 2 pulses every 60 s
}
# A square wave at 880 Hz: fundamental inside 150..1000 Hz with odd harmonics up into the ear's sensitive band.
TONE_HZ = const(880)

_ACTIVE = const(1)
_PRESENT = const(2)
_ACKED = const(4)
_SILENCED = const(8)


def _table(d):
    t = [0] * (_N + 1)
    for code in d:
        t[code] = d[code]
    return t


_PRIO = _table(PRIORITY)
_REPEAT = _table(REPEAT)


def pattern(code):
    """The buzzer pattern of an alarm code (by its priority), or None for 0 / an unknown code."""
    return PATTERN.get(PRIORITY.get(code, 0))


def tone_at(pat, elapsed_ms):
    """(on, ms until the next change) `elapsed_ms` after a pattern's first burst started; it repeats forever."""
    period = pat[-1]
    t = elapsed_ms % period
    start = 0
    for i in range(len(pat) - 1):
        end = start + pat[i]
        if t < end:
            return i % 2 == 0, end - t
        start = end
    return False, period - t


class Alarms:
    """The pump's alarm table; on_event(event_code, alarm_code) receives ALARM_RAISED / ALARM_CLEARED / ALARM_ACK."""

    def __init__(self, on_event=None):
        self._on_event = on_event
        self._flags = bytearray(_N + 1)
        self._ack_ms = [0] * (_N + 1)
        self.since_ms = [0] * (_N + 1)  # ticks at which each active alarm was raised
        self.active_bitmap = 0  # bit code-1 set while the alarm is active
        self._silence_until = 0
        self._silencing = False

    # ---- per step ----
    def set_condition(self, code, present, now):
        """Report whether alarm `code`'s condition is present; True when the alarm was raised or cleared by it."""
        if code < 1 or code > _N:
            raise PumpError(E_RANGE, "code")
        flags = self._flags
        f = flags[code]
        if present:
            if f & _ACTIVE:
                if not f & _PRESENT:
                    flags[code] = f | _PRESENT
                return False
            flags[code] = _ACTIVE | _PRESENT
            self.since_ms[code] = now
            self.active_bitmap |= 1 << (code - 1)
            self._emit(ev.ALARM_RAISED, code)
            return True
        if not f & _ACTIVE:
            return False
        if f & _ACKED:
            self._clear(code)
            return True
        if f & _PRESENT:
            flags[code] = f & ~_PRESENT
        return False

    def is_active(self, code):
        return bool(self._flags[code] & _ACTIVE) if 0 < code <= _N else False

    def is_acknowledged(self, code):
        return bool(self._flags[code] & _ACKED) if 0 < code <= _N else False

    def highest(self):
        """Code of the highest-priority active alarm (lowest code among equals), 0 if none: what the LED shows."""
        flags = self._flags
        best = 0
        best_p = 0
        for c in range(1, _N + 1):
            if flags[c] & _ACTIVE and _PRIO[c] > best_p:
                best = c
                best_p = _PRIO[c]
        return best

    def sounding(self, now):
        """Code of the alarm that owns the buzzer at `now` (active, unacknowledged, not silenced), 0 if none."""
        flags = self._flags
        muted = self._silencing and ticks_diff(self._silence_until, now) > 0
        best = 0
        best_p = 0
        for c in range(1, _N + 1):
            f = flags[c]
            if not f & _ACTIVE:
                continue
            if f & _ACKED and not self._repeat_due(c, f, now):
                continue
            if muted and f & _SILENCED:
                continue
            if _PRIO[c] > best_p:
                best = c
                best_p = _PRIO[c]
        return best

    # ---- user actions ----
    def acknowledge(self, now, code=0):
        """Acknowledge alarm `code` (0: every active one); returns how many were acknowledged."""
        if code < 0 or code > _N:
            raise PumpError(E_RANGE, "code")
        self.advance(now)
        flags = self._flags
        n = 0
        for c in range(1, _N + 1):
            f = flags[c]
            if (code and c != code) or not f & _ACTIVE or f & _ACKED:
                continue
            flags[c] = (f | _ACKED) & ~_SILENCED
            self._ack_ms[c] = now
            n += 1
            self._emit(ev.ALARM_ACK, c)
            if not f & _PRESENT:
                self._clear(c)
        return n

    def silence(self, now, ms):
        """Mute the buzzer for the alarms active now, for min(ms, SILENCE_MAX_MS); returns the ms granted (0 ends
        a silence)."""
        if type(ms) is not int:
            raise PumpError(E_RANGE, "ms")
        granted = max(0, min(ms, SILENCE_MAX_MS))
        flags = self._flags
        for c in range(1, _N + 1):
            f = flags[c]
            if granted and f & _ACTIVE:
                flags[c] = f | _SILENCED
            else:
                flags[c] = f & ~_SILENCED
        self._silencing = granted > 0
        self._silence_until = ticks_add(now, granted)
        return granted

    # ---- time ----
    def next_deadline(self, now):
        """Ticks at which the state changes by itself (a silence ends, an acknowledged alarm repeats), or None."""
        best = None
        best_in = 0
        if self._silencing:
            best = self._silence_until
            best_in = ticks_diff(best, now)
        flags = self._flags
        for c in range(1, _N + 1):
            f = flags[c]
            if _REPEAT[c] and f & _ACKED and f & _PRESENT:
                at = ticks_add(self._ack_ms[c], _REPEAT[c])
                if best is None or ticks_diff(at, now) < best_in:
                    best = at
                    best_in = ticks_diff(at, now)
        return best

    def advance(self, now):
        """Apply what is due at `now`: a silence that ended, repeats that fell due. True if anything changed."""
        changed = False
        flags = self._flags
        if self._silencing and ticks_diff(now, self._silence_until) >= 0:
            self._silencing = False
            for c in range(1, _N + 1):
                flags[c] &= ~_SILENCED
            changed = True
        for c in range(1, _N + 1):
            f = flags[c]
            if f & _ACKED and self._repeat_due(c, f, now):
                flags[c] = f & ~_ACKED
                changed = True
        return changed

    # ---- internals ----
    def _repeat_due(self, c, f, now):
        rep = _REPEAT[c]
        return rep and f & _PRESENT and ticks_diff(now, self._ack_ms[c]) >= rep

    def _clear(self, code):
        self._flags[code] = 0
        self.active_bitmap &= ~(1 << (code - 1))
        self._emit(ev.ALARM_CLEARED, code)

    def _emit(self, event, code):
        if self._on_event is not None:
            self._on_event(event, code)
