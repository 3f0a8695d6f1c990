"""Checkpoint record: the counters that must survive a reset, packed in a fixed little-endian layout for the store."""

import struct

from pump.bolus import MAX_GRANTS
from pump.errors import E_CORRUPT, PumpError

# wall_s, flags, fill_nl, remaining_nl, day, delivered_today_nl, total_ul, total_nl_rem, conc_ug_per_ml,
# bridge_nl_left, bridge_conc_ug_per_ml, latched alarms (bit code-1), occlusion baseline (0.1 kPa) and jump per step
# (x256) kept for a held occlusion, grant count; then grant times (u32 each)
_HEAD = "<IBiiiiIHIiIHHIB"
_HEAD_SIZE = struct.calcsize(_HEAD)
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
        self.bridge_nl_left = 0
        self.bridge_conc_ug_per_ml = 0
        self.latched = 0  # alarms that must outlive a reset: holds in force, unacknowledged fault alarms
        self.occ_base_kpa_x10 = 0
        self.occ_jump_x256 = 0
        self.grants_s = []


def pack(c):
    grants = c.grants_s[-MAX_GRANTS:]
    buf = bytearray(_HEAD_SIZE + 4 * len(grants))
    struct.pack_into(
        _HEAD, buf, 0, c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul,
        c.total_nl_rem, c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10,
        c.occ_jump_x256, len(grants))
    for i, t in enumerate(grants):
        struct.pack_into("<I", buf, _HEAD_SIZE + 4 * i, t)
    return bytes(buf)


def unpack(data):
    if len(data) < _HEAD_SIZE:
        raise PumpError(E_CORRUPT, "checkpoint: short")
    c = Counters()
    (c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl, c.total_ul, c.total_nl_rem,
     c.conc_ug_per_ml, c.bridge_nl_left, c.bridge_conc_ug_per_ml, c.latched, c.occ_base_kpa_x10, c.occ_jump_x256,
     n) = struct.unpack_from(_HEAD, data, 0)
    if n > MAX_GRANTS or len(data) != _HEAD_SIZE + 4 * n:
        raise PumpError(E_CORRUPT, "checkpoint: grant count")
    c.grants_s = [struct.unpack_from("<I", data, _HEAD_SIZE + 4 * i)[0] for i in range(n)]
    return c
