"""Checkpoint record: the counters that must survive a reset, packed in a fixed little-endian layout for the store."""

import struct

from pump.bolus import MAX_GRANTS
from pump.catheter import SLOTS
from pump.errors import E_CORRUPT, PumpError

# wall_s, flags, fill_nl, remaining_nl, day, delivered_today_nl, total_ul, total_nl_rem, conc_ug_per_ml,
# tip_nl, tip_conc_ug_per_ml (the catheter queue's first old drug: nL left, strength; 0 0 for none), latched alarms
# (bit code-1), occlusion baseline (0.1 kPa) and jump per step (x256) kept for a held occlusion, grant count; then
# grant times (u32 each); then, only while the queue holds more than one old drug, the catheter tail: a count (u8)
# and each further segment's nL left (i32) and strength (u32), tip side first.
#
# The tail keeps the record compatible both ways without a new store version: a record without it is exactly the
# earlier layout, whose one bridge (volume left, strength) is the queue's tip segment, so a record written before
# the queue restores as a one-segment queue; and a record with at most one old drug is still readable by the
# firmware before the queue. Only a stacked queue's record is longer; that firmware counts it as corrupt and starts
# from nothing trusted (reservoir empty, alarm raised until a refill) rather than misreading it.
_HEAD = "<IBiiiiIHIiIHHIB"
_HEAD_SIZE = struct.calcsize(_HEAD)
_SEGMENT = "<iI"
FLAG_SUSPENDED = 1


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
        self.catheter = []  # old drugs in the catheter, tip first: [(nL left, ug/mL)] (Catheter.segments)
        self.latched = 0  # alarms that must outlive a reset: holds in force, unacknowledged fault alarms
        self.occ_base_kpa_x10 = 0
        self.occ_jump_x256 = 0
        self.grants_s = []


def pack(c):
    grants = c.grants_s[-MAX_GRANTS:]
    segments = c.catheter[:SLOTS]
    tip_nl, tip_conc = segments[0] if segments else (0, 0)
    rest = segments[1:]
    tail = _HEAD_SIZE + 4 * len(grants)
    buf = bytearray(tail + (1 + 8 * len(rest) if rest else 0))
    struct.pack_into(
        _HEAD, buf, 0, c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul,
        c.total_nl_rem, c.conc_ug_per_ml, tip_nl, tip_conc, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
        len(grants))
    for i, t in enumerate(grants):
        struct.pack_into("<I", buf, _HEAD_SIZE + 4 * i, t)
    if rest:
        buf[tail] = len(rest)
        for i, (nl, conc) in enumerate(rest):
            struct.pack_into(_SEGMENT, buf, tail + 1 + 8 * i, nl, conc)
    return bytes(buf)


def unpack(data):
    if len(data) < _HEAD_SIZE:
        raise PumpError(E_CORRUPT, "checkpoint: short")
    c = Counters()
    (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
     c.conc_ug_per_ml, tip_nl, tip_conc, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
     n) = struct.unpack_from(_HEAD, data, 0)
    tail = _HEAD_SIZE + 4 * n
    if n > MAX_GRANTS or len(data) < tail:
        raise PumpError(E_CORRUPT, "checkpoint: grant count")
    k = data[tail] if len(data) > tail else 0
    if len(data) != (tail + 1 + 8 * k if k else tail) or k >= SLOTS:
        raise PumpError(E_CORRUPT, "checkpoint: catheter segments")
    c.grants_s = [struct.unpack_from("<I", data, _HEAD_SIZE + 4 * i)[0] for i in range(n)]
    if tip_nl or k:
        c.catheter = [(tip_nl, tip_conc)] + [struct.unpack_from(_SEGMENT, data, tail + 1 + 8 * i) for i in range(k)]
    return c
