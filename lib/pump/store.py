"""Power-fail-safe store of one small state blob: two CRC-checked slots written alternately, the newest valid wins.

Slots are the blobs `<name>.a` and `<name>.b` of the storage role, each holding one whole record written with a
single `storage.write`. Record layout (little-endian, 14 bytes + payload):

    offset  size  field
    0       2     magic    u16  0x5453 (bytes "ST")
    2       1     version  u8   format version of the record and its payload (Store's `version`, default 1)
    3       1     reserved u8   0
    4       4     seq      u32  save counter, +1 per save, modulo 2**32
    8       2     length   u16  payload length in bytes (<= max_payload, default MAX_PAYLOAD)
    10      n     payload
    10+n    4     crc      u32  CRC-32 (IEEE, as binascii.crc32) of bytes 0 .. 10+n-1

A slot is valid when its blob is exactly 14 + length bytes, the magic, length and CRC check, and the version equals the
Store's version. A record of another version is treated as invalid (as if absent; counted in `other_version_slots`),
so firmware that changes the payload format bumps `version` and starts from defaults instead of misreading old state.

`save` writes the slot that does NOT hold the newest valid record, so a power cut at any byte of a save leaves the
newest valid record untouched: the next `load` returns either the old payload or the new one. Sequence numbers are
compared by serial-number arithmetic (a is newer than b when (a - b) mod 2**32 is in 1 .. 2**31 - 1), so the u32 wrap
is handled; besides, at one save per second the counter would wrap only after 136 years.
"""

import struct

from pump.compat import const, crc32
from pump.errors import E_RANGE, E_STORAGE, PumpError

MAX_PAYLOAD = const(1024)
_MAGIC = const(0x5453)
_HDR = "<HBBIH"
_HDR_LEN = const(10)
_CRC_LEN = const(4)
_SLOTS = const(2)


def _newer(a, b):
    """True when u32 sequence number a is after b (serial-number arithmetic, survives the 2**32 wrap)."""
    d = (a - b) & 0xFFFFFFFF
    return 0 < d < 0x80000000


class Store:
    """Two-slot record store on a storage role. Attributes: `seq` (of the newest valid record, 0 before any),
    `writes` (successful saves by this object), `corrupt_slots` / `other_version_slots` (found by the last load)."""

    def __init__(self, storage, name="state", version=1, max_payload=MAX_PAYLOAD):
        if not 0 < version < 256:
            raise PumpError(E_RANGE, "version")
        if not 0 <= max_payload < 65536:
            raise PumpError(E_RANGE, "max_payload")
        self._storage = storage
        self._names = (name + ".a", name + ".b")
        self._version = version
        self._max = max_payload
        self._buf = bytearray(_HDR_LEN + max_payload + _CRC_LEN)
        self._newest = -1  # slot index of the newest valid record, -1 when none
        self._loaded = False
        self.seq = 0
        self.writes = 0
        self.corrupt_slots = 0
        self.other_version_slots = 0

    def load(self):
        """Payload (bytes) of the valid slot with the newest sequence number, or None when no slot is valid."""
        best = -1
        best_seq = 0
        best_payload = None
        corrupt = 0
        other = 0
        for i in range(_SLOTS):
            blob = self._read(i)
            if blob is None:
                continue
            rec = self._parse(blob)
            if rec is None:
                corrupt += 1
                continue
            version, seq, payload = rec
            if version != self._version:
                other += 1
                continue
            if best < 0 or _newer(seq, best_seq):
                best, best_seq, best_payload = i, seq, payload
        self.corrupt_slots = corrupt
        self.other_version_slots = other
        self._newest = best
        self.seq = best_seq
        self._loaded = True
        return best_payload

    def save(self, payload):
        """Write payload as record seq+1 into the slot not holding the newest valid record."""
        n = len(payload)
        if n > self._max:
            raise PumpError(E_RANGE, "payload")
        if not self._loaded:
            self.load()  # must know which slot holds the newest record before writing either
        slot = 1 - self._newest if self._newest >= 0 else 0
        seq = (self.seq + 1) & 0xFFFFFFFF
        buf = self._buf
        struct.pack_into(_HDR, buf, 0, _MAGIC, self._version, 0, seq, n)
        end = _HDR_LEN + n
        buf[_HDR_LEN:end] = payload
        mv = memoryview(buf)
        struct.pack_into("<I", buf, end, crc32(mv[:end]))
        try:
            self._storage.write(self._names[slot], mv[: end + _CRC_LEN])
        except OSError:
            raise PumpError(E_STORAGE, self._names[slot])
        self.writes += 1
        self.seq = seq
        self._newest = slot

    def _read(self, i):
        try:
            return self._storage.read(self._names[i])
        except OSError:
            raise PumpError(E_STORAGE, self._names[i])

    def _parse(self, blob):
        """(version, seq, payload bytes) of a well-formed record with a good CRC, else None."""
        size = len(blob)
        if size < _HDR_LEN + _CRC_LEN:
            return None
        magic, version, _, seq, n = struct.unpack_from(_HDR, blob, 0)
        end = _HDR_LEN + n
        if magic != _MAGIC or n > self._max or size != end + _CRC_LEN:
            return None
        mv = memoryview(blob)
        if crc32(mv[:end]) != struct.unpack_from("<I", blob, end)[0]:
            return None
        return version, seq, bytes(mv[_HDR_LEN:end])
