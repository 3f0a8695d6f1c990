"""Checkpoint record: the counters that must survive a reset, packed in a fixed little-endian layout for the store."""

import struct

from pump.bolus import MAX_GRANTS
from pump.errors import E_CORRUPT, PumpError

# wall_s, flags, fill_nl, remaining_nl, day, delivered_today_nl, total_ul, total_nl_rem, conc_ug_per_ml,
# bridge_nl_left, bridge_conc_ug_per_ml, latched alarms (bit code-1), occlusion baseline (0.1 kPa) and jump per step
# (x256) kept for a held occlusion, grant count; then grant times (u32 each, monotonic seconds)
_HEAD = "<IBiiiiIHIiIHHIB"
_HEAD_SIZE = struct.calcsize(_HEAD)
FLAG_SUSPENDED = 1
FLAG_CLOCK_SET = 2  # saved before a clock setting writes the RTC: at boot the RTC may hold the old time

# ---- monotonic-time section, after the grant times (self-contained: pump.monoclock, pump.phases, pump.overdelivery)
# the monotonic clock (s, ms) and the wall clock's ms past wall_s at the checkpoint, the schedule phase count; then
# per phase its shift (ms of the week) and until (monotonic s); then the day and hour over-delivery windows, each its
# head slot, pending bolus steps, limit, slot count and flags, then its slot counts, oldest first, and its allowances
# if any (flag 4), each value in the narrowest of u8, u16, u32 (flags 0, 1, 2) that holds them all
_MONO = "<IHHB"
_MONO_SIZE = struct.calcsize(_MONO)
_PHASE = "<II"
_WINDOW = "<IiiBB"
_WINDOW_SIZE = struct.calcsize(_WINDOW)
_WINDOWS = 2
_W_FORMATS = (("<B", 1), ("<H", 2), ("<I", 4))
_W_ALLOW = 4


class Counters:
    """Everything the controller checkpoints besides the program itself."""

    def __init__(self):
        self.wall_s = 0
        self.flags = 0
        self.fill_nl = 0
        self.remaining_nl = 0
        self.day = 0
        self.delivered_today_nl = 0
        self.total_ul = 0
        self.total_nl_rem = 0
        self.conc_ug_per_ml = 0
        self.bridge_nl_left = 0
        self.bridge_conc_ug_per_ml = 0
        self.latched = 0  # alarms that must outlive a reset: holds in force, unacknowledged fault alarms
        self.occ_base_kpa_x10 = 0
        self.occ_jump_x256 = 0
        self.grants_mono_s = []
        # monotonic-time section
        self.mono_s = 0
        self.mono_ms = 0
        self.wall_rem_ms = 0
        self.phase_shift_ms = []
        self.phase_until_s = []
        self.windows = []  # (head slot, pending, limit, counts, allowances) of the day and the hour window; [] none

    def set_times(self, wall_ms, mono_ms):
        """The wall clock and the monotonic clock at the checkpoint, in ms (big ints allowed: cold path)."""
        self.wall_s = wall_ms // 1000
        self.wall_rem_ms = wall_ms - self.wall_s * 1000
        self.mono_s = mono_ms // 1000
        self.mono_ms = mono_ms - self.mono_s * 1000

    def times(self):
        """(wall ms, monotonic ms) at the checkpoint."""
        return self.wall_s * 1000 + self.wall_rem_ms, self.mono_s * 1000 + self.mono_ms


def pack(c):
    grants = c.grants_mono_s[-MAX_GRANTS:]
    n_phases = len(c.phase_shift_ms)
    size = _HEAD_SIZE + 4 * len(grants) + _MONO_SIZE + 8 * n_phases
    windows = []
    for head_slot, pending, limit, counts, allowances in c.windows:
        flags = _W_ALLOW if max(allowances) else 0
        values = counts + allowances if flags else counts
        top = max(values)
        flags |= 0 if top < 0x100 else 1 if top < 0x10000 else 2
        windows.append((head_slot, pending, limit, len(counts), flags, values))
        size += _WINDOW_SIZE + _W_FORMATS[flags & 3][1] * len(values)
    buf = bytearray(size)
    struct.pack_into(
        _HEAD, buf, 0, c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul,
        c.total_nl_rem, c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10,
        c.occ_jump_x256, len(grants))
    at = _HEAD_SIZE
    for t in grants:
        struct.pack_into("<I", buf, at, t)
        at += 4
    struct.pack_into(_MONO, buf, at, c.mono_s, c.mono_ms, c.wall_rem_ms, n_phases)
    at += _MONO_SIZE
    for i in range(n_phases):
        struct.pack_into(_PHASE, buf, at, c.phase_shift_ms[i], c.phase_until_s[i])
        at += 8
    if c.windows and len(c.windows) != _WINDOWS:
        raise PumpError(E_CORRUPT, "checkpoint: windows")
    for head_slot, pending, limit, slots, flags, values in windows:
        struct.pack_into(_WINDOW, buf, at, head_slot, pending, limit, slots, flags)
        at += _WINDOW_SIZE
        fmt, width = _W_FORMATS[flags & 3]
        for v in values:
            struct.pack_into(fmt, buf, at, v)
            at += width
    return bytes(buf)


def unpack(data):
    if len(data) < _HEAD_SIZE:
        raise PumpError(E_CORRUPT, "checkpoint: short")
    c = Counters()
    (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
     c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
     n) = struct.unpack_from(_HEAD, data, 0)
    at = _HEAD_SIZE + 4 * n
    if n > MAX_GRANTS or len(data) < at + _MONO_SIZE:
        raise PumpError(E_CORRUPT, "checkpoint: grant count")
    c.grants_mono_s = [struct.unpack_from("<I", data, _HEAD_SIZE + 4 * i)[0] for i in range(n)]
    c.mono_s, c.mono_ms, c.wall_rem_ms, n_phases = struct.unpack_from(_MONO, data, at)
    at += _MONO_SIZE
    if len(data) < at + 8 * n_phases:
        raise PumpError(E_CORRUPT, "checkpoint: phases")
    for _ in range(n_phases):
        shift, until = struct.unpack_from(_PHASE, data, at)
        c.phase_shift_ms.append(shift)
        c.phase_until_s.append(until)
        at += 8
    if at < len(data):  # the windows (a record from before a first program may hold none)
        for _ in range(_WINDOWS):
            if len(data) < at + _WINDOW_SIZE:
                raise PumpError(E_CORRUPT, "checkpoint: windows")
            head_slot, pending, limit, slots, flags = struct.unpack_from(_WINDOW, data, at)
            at += _WINDOW_SIZE
            if flags & 3 == 3:
                raise PumpError(E_CORRUPT, "checkpoint: windows")
            fmt, width = _W_FORMATS[flags & 3]
            n = 2 * slots if flags & _W_ALLOW else slots
            if len(data) < at + width * n:
                raise PumpError(E_CORRUPT, "checkpoint: windows")
            values = [struct.unpack_from(fmt, data, at + width * i)[0] for i in range(n)]
            at += width * n
            c.windows.append((head_slot, pending, limit, values[:slots], values[slots:] or [0] * slots))
    if at != len(data):
        raise PumpError(E_CORRUPT, "checkpoint: length")
    return c
