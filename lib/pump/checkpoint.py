"""Checkpoint record: the counters that must survive a reset, packed in a fixed little-endian layout for the store,
and read back only when every field lies within its range (record version 2; version 1 is read and migrated)."""

import struct

from pump.alarms import NAME
from pump.bolus import MAX_GRANTS
from pump.calendar import WALL_MAX_DAY, WALL_MAX_S
from pump.compat import const
from pump.config import field_max
from pump.errors import E_CORRUPT, PumpError
from pump.units import MAX_SMALL_INT

VERSION = const(2)  # the state store's record version (pump.store)
OLDER = (1,)  # versions still read: 1 had a u16 alarm bitmap and no program sequence number

# wall_s, flags, fill_nl, remaining_nl, day, delivered_today_nl, total_ul, total_nl_rem, conc_ug_per_ml,
# bridge_nl_left, bridge_conc_ug_per_ml, latched alarms (bit code-1), occlusion baseline (0.1 kPa) and jump per step
# (x256) kept for a held occlusion, the program store's sequence number when the program was applied, grant count;
# then grant times (u32 each)
_HEAD = "<IBiiiiIHIiIIHIIB"
_HEAD_V1 = "<IBiiiiIHIiIHHIB"
_HEAD_SIZE = struct.calcsize(_HEAD)
_HEAD_V1_SIZE = struct.calcsize(_HEAD_V1)
FLAG_SUSPENDED = const(1)
_FLAGS = FLAG_SUSPENDED  # every flag this firmware knows
_ALARMS = 0
for _code in NAME:
    _ALARMS |= 1 << (_code - 1)  # the latched bitmap may hold only alarm codes this firmware knows


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
        # the program store's seq (pump.store) of the program applied: a program store found older than this at
        # boot fell back (its newer slot was lost), which is not what the pump was running. None: unknown (a
        # version 1 record), so nothing is judged by it
        self.prog_seq = 0  # type: int | None
        self.grants_s = []


def pack(c):
    grants = c.grants_s[-MAX_GRANTS:]
    buf = bytearray(_HEAD_SIZE + 4 * len(grants))
    struct.pack_into(
        _HEAD, buf, 0, c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul,
        c.total_nl_rem, c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10,
        c.occ_jump_x256, c.prog_seq or 0, len(grants))
    for i, t in enumerate(grants):
        struct.pack_into("<I", buf, _HEAD_SIZE + 4 * i, t)
    return bytes(buf)


def unpack(data, version=VERSION):
    """Counters of a record of `version`; PumpError(E_CORRUPT) naming the field when the record is malformed or a
    field lies outside its range (the store then tries its other slot)."""
    c = Counters()
    if version == VERSION:
        size = _HEAD_SIZE
        if len(data) < size:
            raise PumpError(E_CORRUPT, "checkpoint: short")
        (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
         c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
         c.prog_seq, n) = struct.unpack_from(_HEAD, data, 0)
    elif version == 1:
        size = _HEAD_V1_SIZE
        if len(data) < size:
            raise PumpError(E_CORRUPT, "checkpoint: short")
        (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
         c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
         n) = struct.unpack_from(_HEAD_V1, data, 0)
        c.prog_seq = None  # not recorded by version 1
    else:
        raise PumpError(E_CORRUPT, "checkpoint: version %d" % version)
    if n > MAX_GRANTS or len(data) != size + 4 * n:
        raise PumpError(E_CORRUPT, "checkpoint: grant count")
    c.grants_s = [struct.unpack_from("<I", data, size + 4 * i)[0] for i in range(n)]
    _check(c)
    return c


def _field(name, v, lo, hi):
    if not lo <= v <= hi:
        raise PumpError(E_CORRUPT, "checkpoint.%s: %d not in %d..%d" % (name, v, lo, hi))


def _check(c):
    """Every field within what the pump can have written; hot-path counters within small ints (the boards' 31
    bits). The reservoir estimate may be far below zero (delivery past empty at the minimum rate), never above the
    fill; a bridge needs the old drug's strength."""
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
    _field("bridge_nl_left", c.bridge_nl_left, 0, field_max("catheter_volume_ul") * 1000)
    _field("bridge_conc_ug_per_ml", c.bridge_conc_ug_per_ml, 1 if c.bridge_nl_left else 0, MAX_SMALL_INT)
    _field("latched", c.latched & ~_ALARMS, 0, 0)
    for t in c.grants_s:
        _field("grants_s", t, 0, WALL_MAX_S)
