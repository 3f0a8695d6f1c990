"""Checkpoint record: the counters that must survive a reset, packed in a fixed little-endian layout for the store,
and read back only when every field lies within its range (record version 3; versions 1 and 2 are read and migrated)."""

import struct

from pump.alarms import NAME
from pump.bolus import MAX_GRANTS
from pump.calendar import WALL_MAX_DAY, WALL_MAX_S
from pump.catheter import SLOTS
from pump.compat import const
from pump.config import field_max
from pump.errors import E_CORRUPT, PumpError
from pump.units import MAX_SMALL_INT

VERSION = const(3)  # the state store's record version (pump.store)
OLDER = (1, 2)  # versions still read: 1 had a u16 alarm bitmap and no program sequence number; 1 and 2 kept the
# patient-bolus grants in wall seconds and had no monotonic-time section

# wall_s, flags, fill_nl, remaining_nl, day, delivered_today_nl, total_ul, total_nl_rem, conc_ug_per_ml,
# tip_nl, tip_conc_ug_per_ml (the catheter queue's first old drug: nL left, strength; 0 0 for none; versions 1 and 2
# called it the bridge), latched alarms (bit code-1), occlusion baseline (0.1 kPa) and jump per step (x256) kept for
# a held occlusion, the program store's sequence number when the program was applied, grant count; then grant times
# (u32 each: monotonic seconds from version 3, wall seconds before). Version 3 then has the catheter tail: a count
# (u8) and each further old drug's nL left (i32) and strength (u32), tip side first.
_HEAD = "<IBiiiiIHIiIIHIIB"
_HEAD_V1 = "<IBiiiiIHIiIHHIB"
_HEAD_SIZE = struct.calcsize(_HEAD)
_HEAD_V1_SIZE = struct.calcsize(_HEAD_V1)
FLAG_SUSPENDED = const(1)
FLAG_CLOCK_SET = const(2)  # saved before a clock setting writes the RTC: at boot the RTC may hold the old time
FLAG_RESIDUAL_UNKNOWN = const(4)  # the reservoir's record was lost: no expected residual until the next refill
FLAG_CLOCK_UNKNOWN = const(8)  # the wall clock is not known (never set, or lost): until the next set-clock
_FLAGS = FLAG_SUSPENDED | FLAG_CLOCK_SET | FLAG_RESIDUAL_UNKNOWN | FLAG_CLOCK_UNKNOWN  # every flag this firmware knows
_ALARMS = 0
for _code in NAME:
    _ALARMS |= 1 << (_code - 1)  # the latched bitmap may hold only alarm codes this firmware knows

# ---- monotonic-time section, after the grant times (pump.monoclock, pump.phases, pump.overdelivery)
# the monotonic clock (s, ms) and the wall clock's ms past wall_s at the checkpoint, the schedule phase count; then
# per phase its shift (ms of the week) and until (monotonic s); then the day and hour over-delivery windows, each its
# head slot, pending bolus steps, limit, slot count and flags, then its slot counts, oldest first, and its allowances
# if any (flag 4), each value in the narrowest of u8, u16, u32 (flags 0, 1, 2) that holds them all
_MONO = "<IHHB"
_MONO_SIZE = struct.calcsize(_MONO)
_PHASE = "<II"
_SEGMENT = "<iI"
_WINDOW = "<IiiBB"
_WINDOW_SIZE = struct.calcsize(_WINDOW)
_WINDOWS = 2
_W_FORMATS = (("<B", 1), ("<H", 2), ("<I", 4))
_W_ALLOW = 4
_MIGRATED_MONO_S = const(86400)  # a record from before the monotonic clock: the clock starts a day in


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
        self.catheter = []  # old drugs in the catheter, tip first: [(nL left, ug/mL)] (pump.catheter segments())
        self.latched = 0  # alarms that must outlive a reset: holds in force, unacknowledged fault alarms
        self.occ_base_kpa_x10 = 0
        self.occ_jump_x256 = 0
        # the program store's seq (pump.store) of the program applied: a program store found older than this at
        # boot fell back (its newer slot was lost), which is not what the pump was running. None: unknown (a
        # version 1 record), so nothing is judged by it
        self.prog_seq = 0  # type: int | None
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
    segments = c.catheter[:SLOTS]
    tip_nl, tip_conc = segments[0] if segments else (0, 0)
    rest = segments[1:]
    n_phases = len(c.phase_shift_ms)
    size = _HEAD_SIZE + 4 * len(grants) + 1 + 8 * len(rest) + _MONO_SIZE + 8 * n_phases
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
        c.total_nl_rem, c.conc_ug_per_ml, tip_nl, tip_conc, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
        c.prog_seq or 0, len(grants))
    at = _HEAD_SIZE
    for t in grants:
        struct.pack_into("<I", buf, at, t)
        at += 4
    buf[at] = len(rest)
    at += 1
    for nl, conc in rest:
        struct.pack_into(_SEGMENT, buf, at, nl, conc)
        at += 8
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


def unpack(data, version=VERSION):
    """Counters of a record of `version`; PumpError(E_CORRUPT) naming the field when the record is malformed or a
    field lies outside its range (the store then tries its other slot)."""
    c = Counters()
    if version == 1:
        size = _HEAD_V1_SIZE
        if len(data) < size:
            raise PumpError(E_CORRUPT, "checkpoint: short")
        (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
         c.conc_ug_per_ml, tip_nl, tip_conc, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
         n) = struct.unpack_from(_HEAD_V1, data, 0)
        c.prog_seq = None  # not recorded by version 1
    elif version in (2, VERSION):
        size = _HEAD_SIZE
        if len(data) < size:
            raise PumpError(E_CORRUPT, "checkpoint: short")
        (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
         c.conc_ug_per_ml, tip_nl, tip_conc, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
         c.prog_seq, n) = struct.unpack_from(_HEAD, data, 0)
    else:
        raise PumpError(E_CORRUPT, "checkpoint: version %d" % version)
    at = size + 4 * n
    if n > MAX_GRANTS or len(data) < at:
        raise PumpError(E_CORRUPT, "checkpoint: grant count")
    grants = [struct.unpack_from("<I", data, size + 4 * i)[0] for i in range(n)]
    if tip_nl:  # (an ended bridge of versions 1 and 2 kept its strength beside 0 nL: no drug)
        c.catheter = [(tip_nl, tip_conc)]
    if version == VERSION:
        c.grants_mono_s = grants
        at = _unpack_catheter(c, data, at)
        _unpack_mono(c, data, at)
    else:
        if at != len(data):
            raise PumpError(E_CORRUPT, "checkpoint: grant count")
        _migrate(c, grants)
    _check(c)
    return c


def _unpack_catheter(c, data, at):
    k = data[at] if len(data) > at else SLOTS
    if k >= SLOTS or len(data) < at + 1 + 8 * k or (k and not c.catheter):
        raise PumpError(E_CORRUPT, "checkpoint: catheter segments")
    at += 1
    for _ in range(k):
        c.catheter.append(struct.unpack_from(_SEGMENT, data, at))
        at += 8
    return at


def _unpack_mono(c, data, at):
    if len(data) < at + _MONO_SIZE:
        raise PumpError(E_CORRUPT, "checkpoint: monotonic clock")
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


def _migrate(c, grants_wall_s):
    """A record from before the monotonic clock: the clock starts a day in, the grants of the last day keep their age
    (a firmware update neither opens nor closes a lockout); no phases, the windows start empty."""
    c.mono_s = _MIGRATED_MONO_S
    c.grants_mono_s = [_MIGRATED_MONO_S - (c.wall_s - t) for t in grants_wall_s if 0 <= c.wall_s - t < 86400]


def _field(name, v, lo, hi):
    if not lo <= v <= hi:
        raise PumpError(E_CORRUPT, "checkpoint.%s: %d not in %d..%d" % (name, v, lo, hi))


def _check(c):
    """Every field within what the pump can have written; hot-path counters within small ints (the boards' 31
    bits). The reservoir estimate may be far below zero (delivery past empty at the minimum rate), never above the
    fill; an old drug in the catheter has a volume and a strength. The phases and the windows are checked where they
    are restored."""
    fill_max = field_max("reservoir_ul") * 1000
    _field("wall_s", c.wall_s, 0, WALL_MAX_S)
    _field("flags", c.flags & ~_FLAGS, 0, 0)
    _field("fill_nl", c.fill_nl, 0, fill_max)
    _field("remaining_nl", c.remaining_nl, -0x80000000, c.fill_nl)
    _field("day", c.day, 0, WALL_MAX_DAY)
    _field("delivered_today_nl", c.delivered_today_nl, 0, MAX_SMALL_INT)
    _field("total_ul", c.total_ul, 0, MAX_SMALL_INT)
    _field("total_nl_rem", c.total_nl_rem, 0, 999)
    _field("conc_ug_per_ml", c.conc_ug_per_ml, 0, MAX_SMALL_INT)
    for nl, conc in c.catheter:
        _field("catheter_nl", nl, 1, field_max("catheter_volume_ul") * 1000)
        _field("catheter_conc_ug_per_ml", conc, 1, MAX_SMALL_INT)
    _field("latched", c.latched & ~_ALARMS, 0, 0)
    _field("mono_s", c.mono_s, 0, MAX_SMALL_INT)
    _field("mono_ms", c.mono_ms, 0, 999)
    _field("wall_rem_ms", c.wall_rem_ms, 0, 999)
    for t in c.grants_mono_s:
        _field("grants_mono_s", t, 0, c.mono_s)
