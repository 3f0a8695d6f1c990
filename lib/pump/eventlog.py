"""Persistent event log: a bounded ring of fixed-size CRC-checked records in K segment blobs, power-cut safe.

Record layout (24 bytes, little-endian; struct "<IIHHiiI"), read as-is by the BLE service and the phone:

    offset  size  field
    0       4     seq    u32  1, 2, 3, ... (0 is never a record)
    4       4     t_s    u32  wall clock, seconds since 2000-01-01 00:00 UTC (0: clock never set)
    8       2     code   u16  event code (pump.events)
    10      2     fmt    u16  record format, 1
    12      4     a      i32  first argument (meaning per pump.events)
    16      4     b      i32  second argument
    20      4     crc    u32  CRC-32 (IEEE, as binascii.crc32 / zlib.crc32) of bytes 0..19

A record is valid when fmt is 1, seq is 1 .. MAX_SEQ and the CRC matches. `decode(buf, offset)` checks and unpacks one,
`encode` packs one (the BLE history characteristic sends records in this very layout).

Segments are the blobs `<name>.0` .. `<name>.K-1`; record i of a segment sits at byte offset 24 * i (fixed offsets).
Records are added with `storage.append`; when the current segment holds R slots, the next segment in ring order (the
oldest) is overwritten by a `storage.write` of the new record and becomes current. So the log keeps between (K-1)*R
and K*R records, always dropping the oldest whole segment.

Power cuts: a cut append leaves a partial record at the end of the current segment. `open()` reads such a tail as if
zero-padded to 24 bytes (nearly always failing its CRC; if the missing bytes happened to be zeros it is the complete
record) and the next `append` first appends those zero bytes, so every later record is again at a fixed offset and
readable; the torn slot costs one slot. A cut overwrite leaves the recycled segment holding a partial record: no
valid record there, so the previous segment stays current and the next append overwrites the torn one again. Any
record failing its CRC (bit rot) is skipped alone and counted in `rotten` (a whole slot that is neither a record nor
a torn one padded with zeros, which fails its CRC and ends in 0). After a boot, `seq` continues after the highest
valid one, so a torn or rotted newest record's number is given to the next record (it was never readable). Numbers
stop at MAX_SEQ (2**30 - 1: a small int on the boards, 34 years at one event a second); only a forged record can hold
it, and an append after it starts the log afresh at 1 (every segment removed) rather than fail.

`append` packs into one preallocated 24-byte buffer and hands it to the storage role: no allocation of its own on the
unix port (tested under heap_lock). On the boards ints >= 2**30 are boxed, so the CRC value (3 times in 4) and, from
2034, t_s cost one small allocation each; seq stays a small int (2**30 events is 34 years at one per second).
`count` is the number of valid records; it may be lower than last_seq - first_seq + 1 when records were lost.
"""

import struct

from pump.compat import const, crc32
from pump.errors import E_RANGE, E_STORAGE, PumpError

RECORD_SIZE = const(24)
MAX_SEQ = const(0x3FFFFFFF)
_BODY = "<IIHHii"
_BODY_LEN = const(20)
_FMT_VER = const(1)
_I32_MIN = -0x80000000
_I32_MAX = 0x7FFFFFFF
_U32_MAX = 0xFFFFFFFF


def decode(buf, offset=0):
    """(seq, t_s, code, a, b) of the record at buf[offset:offset + 24], or None when short, foreign or corrupt."""
    if len(buf) - offset < RECORD_SIZE:
        return None
    seq, t_s, code, fmt, a, b, crc = struct.unpack_from("<IIHHiiI", buf, offset)
    if fmt != _FMT_VER or not 0 < seq <= MAX_SEQ:
        return None
    if crc32(memoryview(buf)[offset : offset + _BODY_LEN]) != crc:
        return None
    return (seq, t_s, code, a, b)


def _rotten(buf, offset):
    """1 for a whole slot that is no valid record and no torn one padded with zeros (a torn record fails its CRC and
    ends in 0): bit rot, or a record with a good CRC around fields out of range. Else 0."""
    if decode(buf, offset) is not None:
        return 0
    crc = struct.unpack_from("<I", buf, offset + _BODY_LEN)[0]
    return 1 if crc32(memoryview(buf)[offset : offset + _BODY_LEN]) == crc or buf[offset + RECORD_SIZE - 1] else 0


def encode(buf, body, seq, t_s, code, a, b):
    """Pack one record into buf[0:24]; `body` is memoryview(buf)[:20], kept by the caller (no allocation here)."""
    struct.pack_into(_BODY, buf, 0, seq, t_s, code, _FMT_VER, a, b)
    struct.pack_into("<I", buf, _BODY_LEN, crc32(body))


class EventLog:
    """Ring of event records on a storage role. Attributes `first_seq`, `last_seq` (0 when empty) and `count`."""

    def __init__(self, storage, name="log", segments=4, per_segment=64):
        if segments < 2:
            raise PumpError(E_RANGE, "segments")
        if per_segment < 1:
            raise PumpError(E_RANGE, "per_segment")
        self._storage = storage
        self._names = ["%s.%d" % (name, i) for i in range(segments)]
        self._k = segments
        self._r = per_segment
        self._buf = bytearray(RECORD_SIZE)
        self._mv = memoryview(self._buf)
        self._body = self._mv[:_BODY_LEN]
        self._zeros = bytes(RECORD_SIZE)
        # per segment: first and last valid seq (0 when none), valid records, slots used (torn tail counted)
        self._first = [0] * segments
        self._last = [0] * segments
        self._count = [0] * segments
        self._slots = [0] * segments
        self._cur = 0  # segment being appended to
        self._pad = 0  # zero bytes to append before the next record (torn tail of the current segment)
        self._open = False
        self.first_seq = 0
        self.last_seq = 0
        self.count = 0
        self.rotten = 0  # whole slots found unreadable by open() that no power cut explains

    def open(self):
        """Scan every segment: validate records, find the newest, resume after it. Reads only, never writes."""
        cur = 0
        cur_tail = 0
        rotten = 0
        for i in range(self._k):
            first = last = count = 0
            blob = self._read(i)
            size = 0 if blob is None else len(blob)
            if blob is not None:
                for off in range(0, size - RECORD_SIZE + 1, RECORD_SIZE):
                    rotten += _rotten(blob, off)
            for rec in self._records_of(blob):
                seq = rec[0]
                if first == 0 or seq < first:
                    first = seq
                if seq > last:
                    last = seq
                count += 1
            self._first[i] = first
            self._last[i] = last
            self._count[i] = count
            self._slots[i] = (size + RECORD_SIZE - 1) // RECORD_SIZE
            if last > self._last[cur] or i == 0:
                cur = i
                cur_tail = size % RECORD_SIZE
        self._cur = cur
        self._pad = RECORD_SIZE - cur_tail if cur_tail else 0
        self.rotten = rotten
        self._totals()
        self._open = True
        return self

    def append(self, t_s, code, a=0, b=0):
        """Add one record (wall time t_s, event code, arguments a, b) and return its seq."""
        if not self._open:
            self.open()
        if not 0 <= t_s <= _U32_MAX:
            raise PumpError(E_RANGE, "t_s")
        if not 0 < code < 0x10000:
            raise PumpError(E_RANGE, "code")
        if not _I32_MIN <= a <= _I32_MAX:
            raise PumpError(E_RANGE, "a")
        if not _I32_MIN <= b <= _I32_MAX:
            raise PumpError(E_RANGE, "b")
        if self.last_seq >= MAX_SEQ:
            self._restart()
        seq = self.last_seq + 1
        encode(self._buf, self._body, seq, t_s, code, a, b)
        i = self._cur
        rotate = self._slots[i] >= self._r
        if rotate:
            i = (i + 1) % self._k
        name = self._names[i]
        self._open = False  # until the storage call returns: a failed call leaves the blob unknown, rescan then
        try:
            if rotate:
                self._storage.write(name, self._mv)
            else:
                if self._pad:
                    self._storage.append(name, self._zeros[: self._pad])
                    self._pad = 0
                self._storage.append(name, self._mv)
        except OSError:
            raise PumpError(E_STORAGE, name)
        self._open = True
        if rotate:
            self.count -= self._count[i]
            self._first[i] = seq
            self._count[i] = 1
            self._slots[i] = 1
            self._cur = i
            self._pad = 0
        else:
            if self._first[i] == 0:
                self._first[i] = seq
            self._count[i] += 1
            self._slots[i] += 1
        self._last[i] = seq
        self.count += 1
        self.last_seq = seq
        if rotate or self.first_seq == 0:
            self._first_seq()
        return seq

    def read(self, first_seq=1, last_seq=None):
        """Yield the valid records with first_seq <= seq <= last_seq (default: to the newest) in seq order, as tuples
        (seq, t_s, code, a, b). Reads one segment blob at a time."""
        if not self._open:
            self.open()
        if last_seq is None:
            last_seq = self.last_seq
        prev = 0
        for i in self._order():
            if self._last[i] < first_seq or self._first[i] > last_seq:
                continue
            for rec in self._records_of(self._read(i)):
                seq = rec[0]
                if first_seq <= seq <= last_seq and seq > prev:
                    prev = seq
                    yield rec

    def latest(self, n):
        """List of the newest n valid records (fewer if the log holds fewer), oldest first."""
        if not self._open:
            self.open()
        if n <= 0:
            return []
        out = []
        order = self._order()
        for j in range(len(order) - 1, -1, -1):
            out = list(self._records_of(self._read(order[j]))) + out
            if len(out) >= n:
                break
        # keep seq strictly increasing (only corrupt storage could break it), then the last n
        kept = []
        for rec in out:
            if not kept or rec[0] > kept[-1][0]:
                kept.append(rec)
        return kept[-n:]

    # --- internals ---

    def _restart(self):
        """The numbers are used up (only a forged record can get there): every segment removed, numbering from 1."""
        for name in self._names:
            try:
                self._storage.remove(name)
            except OSError:
                raise PumpError(E_STORAGE, name)
        for i in range(self._k):
            self._first[i] = self._last[i] = self._count[i] = self._slots[i] = 0
        self._cur = self._pad = 0
        self._totals()

    def _read(self, i):
        try:
            return self._storage.read(self._names[i])
        except OSError:
            raise PumpError(E_STORAGE, self._names[i])

    def _records_of(self, blob):
        """Valid records of one segment blob in slot order; a torn tail is read zero-padded, as append will pad it."""
        if blob is None:
            return
        size = len(blob)
        off = 0
        while off + RECORD_SIZE <= size:
            rec = decode(blob, off)
            if rec is not None:
                yield rec
            off += RECORD_SIZE
        if off < size:
            rec = decode(bytes(blob[off:]) + self._zeros[: off + RECORD_SIZE - size])
            if rec is not None:
                yield rec

    def _order(self):
        """Indexes of the segments holding valid records, oldest first."""
        order = [i for i in range(self._k) if self._count[i]]
        first = self._first
        order.sort(key=lambda i: first[i])
        return order

    def _totals(self):
        count = 0
        last = 0
        for i in range(self._k):
            count += self._count[i]
            if self._last[i] > last:
                last = self._last[i]
        self.count = count
        self.last_seq = last
        self._first_seq()

    def _first_seq(self):
        first = 0
        for i in range(self._k):
            f = self._first[i]
            if self._count[i] and (first == 0 or f < first):
                first = f
        self.first_seq = first
