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
Store's version or one of its `older` ones (the caller migrates those). A record of any other version is treated as
invalid (counted in `other_version_slots`), so firmware that changes the payload format bumps `version`, reads the
older layouts it knows, and never misreads a newer one. `load(parse)` also checks the payload itself: a record whose
fields `parse` refuses (PumpError) counts in `invalid_slots` and the other slot is tried, so a value out of its range
is a storage fault like a bad CRC, never a boot that fails.

What `load` found is kept for the boot's verdicts: `found_slots` (blobs present at all: none on a new pump),
`corrupt_slots` (a blob that is no whole, CRC-checked record), `torn_slots` (those of them shorter than the record
their header announces: what a power cut during a write leaves, not bit rot; a save never writes the slot holding
the newest record, so two torn slots are no power cut and count as none), `other_version_slots`, `invalid_slots`.

`save` writes the slot that does NOT hold the newest valid record, so a power cut at any byte of a save leaves the
newest valid record untouched: the next `load` returns either the old payload or the new one. Sequence numbers are
compared by serial-number arithmetic (a is newer than b when (a - b) mod 2**32 is in 1 .. 2**31 - 1), so the u32 wrap
is handled; besides, at one save per second the counter would wrap only after 136 years. After a load that found no
valid record but a slot failing its check, the next save writes both slots (seq+1, then seq+2): numbering restarts
there, and an old record left in the other slot could read right again one day and outrank the new one.
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


def newer(a, b):
    """True when u32 sequence number a is after b (serial-number arithmetic, survives the 2**32 wrap)."""
    d = (a - b) & 0xFFFFFFFF
    return 0 < d < 0x80000000


class Store:
    """Two-slot record store on a storage role. Attributes: `seq` (of the record `load` returned, 0 before any),
    `version_loaded` (its version), `writes` (successful saves by this object), and the slot counts of the last
    load (module docstring)."""

    def __init__(self, storage, name="state", version=1, max_payload=MAX_PAYLOAD, older=()):
        if not 0 < version < 256:
            raise PumpError(E_RANGE, "version")
        if not 0 <= max_payload < 65536:
            raise PumpError(E_RANGE, "max_payload")
        self._storage = storage
        self._names = (name + ".a", name + ".b")
        self._version = version
        self._older = older  # older record versions load() still returns, for the caller to migrate
        self._max = max_payload
        self._buf = bytearray(_HDR_LEN + max_payload + _CRC_LEN)
        self._newest = -1  # slot index of the record load() returned (or last saved), -1 when none
        self._loaded = False
        self.seq = 0
        self.version_loaded = 0
        self.writes = 0
        self.found_slots = 0
        self.corrupt_slots = 0
        self.torn_slots = 0
        self.other_version_slots = 0
        self.invalid_slots = 0

    @property
    def failed_slots(self):
        """Slots present that the last load could not use: each is a storage event."""
        return self.corrupt_slots + self.other_version_slots + self.invalid_slots

    @property
    def rotten_slots(self):
        """Failed slots no power cut explains (bit rot, a foreign write, values out of range, a record version this
        firmware does not read): a storage fault."""
        return self.failed_slots - self.torn_slots

    def load(self, parse=None):
        """The payload (bytes) of the newest valid record, or None when no slot holds one. With `parse`, what
        `parse(payload, version)` returns for the newest record it accepts; a record it refuses with a PumpError
        counts as invalid and the other slot is tried."""
        found = corrupt = torn = other = invalid = 0
        cands = []  # (seq, slot, version, payload), newest first
        for i in range(_SLOTS):
            blob = self._read(i)
            if blob is None:
                continue
            found += 1
            rec = self._parse(blob)
            if rec is None:
                corrupt += 1
                torn += self._torn(blob)
                continue
            version, seq, payload = rec
            if version != self._version and version not in self._older:
                other += 1
                continue
            if cands and newer(seq, cands[0][0]):
                cands.insert(0, (seq, i, version, payload))
            else:
                cands.append((seq, i, version, payload))
        best = -1
        best_seq = best_version = 0
        result = None
        for seq, i, version, payload in cands:
            if parse is None:
                result = payload
            else:
                try:
                    result = parse(payload, version)
                except PumpError:
                    invalid += 1
                    continue
            best, best_seq, best_version = i, seq, version
            break
        self.found_slots = found
        self.corrupt_slots = corrupt
        self.torn_slots = torn if torn < 2 else 0  # a power cut tears the slot being written, never both
        self.other_version_slots = other
        self.invalid_slots = invalid
        self._newest = best
        self.seq = best_seq
        self.version_loaded = best_version
        self._loaded = True
        return result

    def save(self, payload):
        """Write payload as record seq+1 into the slot not holding the newest valid record. When no slot held a
        valid record but some held one that failed its check (rotten, foreign, refused), it goes into both, one after
        the other: a record left behind could read right again one day (a read error that passes) and outrank the
        new one by its number. (A torn slot cannot, nor a record of a version this firmware never reads.)"""
        if not self._loaded:
            self.load()  # must know which slot holds the newest record before writing either
        again = self._newest < 0 and self.corrupt_slots - self.torn_slots + self.invalid_slots > 0
        self._write(payload)
        if again:
            self._write(payload)

    def _write(self, payload):
        n = len(payload)
        if n > self._max:
            raise PumpError(E_RANGE, "payload")
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

    def _torn(self, blob):
        """1 when a blob failing its check is shorter than the record its header announces (a write cut short by
        a power failure leaves such a prefix), else 0 (bit rot, a foreign or overlong blob)."""
        size = len(blob)
        if size >= 2 and struct.unpack_from("<H", blob, 0)[0] != _MAGIC:
            return 0
        if size < _HDR_LEN:
            return 1
        n = struct.unpack_from(_HDR, blob, 0)[4]
        return 1 if n <= self._max and size < _HDR_LEN + n + _CRC_LEN else 0

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
