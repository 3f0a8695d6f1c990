"""BLE frames of the pump service: CRC-16, the frame header, fragmenting a message into preallocated frames and
reassembling written fragments. The firmware and tools/pumplink/proto.py share this code (docs/ble.md).

Frame (at most the link's ATT payload, MTU - 3: 20 bytes by default):

    offset  size  field
    0       1     ctl    bits 0-3 version (1), bit 7 set on the last fragment of a message, bits 4-6 zero
    1       1     e2e    the sender's rolling message counter (mod 256), the same on every fragment of a message
    2       1     index  fragment number 0, 1, ... 255
    3       n     chunk  the next n bytes of the message (n >= 0)
    3+n     2     crc    CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of bytes 0 .. 2+n, little-endian
"""

from pump.compat import const
from pump.errors import E_FRAME

VERSION = const(1)
LAST = const(0x80)
HEADER = const(3)
OVERHEAD = const(5)
MIN_FRAME = const(20)  # the default ATT payload: every message fits frames of this size
MAX_FRAME = const(244)  # frames are never larger (ATT MTU 247), so fragment buffers stay bounded
MAX_FRAGMENTS = const(256)
MORE = const(0)  # Reassembler.feed: fragment taken, the message goes on
DONE = const(1)  # Reassembler.feed: message complete in buf[:n]

# CRC-16/CCITT-FALSE a nibble at a time: 16 table entries, small ints only
_T = (0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
      0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF)


def crc16(buf, start=0, end=None):
    """CRC-16/CCITT-FALSE of buf[start:end] (no slice, no allocation); crc16(b"123456789") == 0x29B1."""
    if end is None:
        end = len(buf)
    crc = 0xFFFF
    t = _T
    for i in range(start, end):
        b = buf[i]
        crc = ((crc << 4) & 0xFFFF) ^ t[(crc >> 12) ^ (b >> 4)]
        crc = ((crc << 4) & 0xFFFF) ^ t[(crc >> 12) ^ (b & 15)]
    return crc


def count(n, size):
    """Fragments a message of n bytes needs in frames of `size` bytes (at least one)."""
    per = size - OVERHEAD
    return (n + per - 1) // per if n else 1


def split(payload, e2e, size=MIN_FRAME):
    """The frames (list of bytes) of one message; host side and cold paths (allocates)."""
    f = Framer(len(payload))
    k = f.pack(payload, len(payload), e2e, size)
    return [bytes(f.views[i]) for i in range(k)]


class Framer:
    """Fragments messages of up to `cap` bytes into one preallocated buffer: after `pack`, `views[i]` is frame i.
    A new message length or frame size lays the views out again (allocates); the same ones again allocate nothing."""

    def __init__(self, cap):
        self.cap = cap
        self._buf = bytearray(cap + OVERHEAD * count(cap, MIN_FRAME))  # frames of any size >= 20 fit
        self._mv = memoryview(self._buf)
        self.views = []
        self._key = -1

    def pack(self, src, n, e2e, size):
        """Frame src[0:n] as message `e2e` in frames of at most `size` bytes; returns the number of frames."""
        if size > MAX_FRAME:
            size = MAX_FRAME
        if n > self.cap or count(n, size) > MAX_FRAGMENTS:
            raise ValueError("message too long")
        per = size - OVERHEAD
        k = count(n, size)
        if n * 256 + size != self._key:
            self._layout(n, per, k)
            self._key = n * 256 + size
        buf = self._buf
        o = 0
        j = 0
        for i in range(k):
            m = per if i < k - 1 else n - j
            buf[o] = (VERSION | LAST) if i == k - 1 else VERSION
            buf[o + 1] = e2e & 0xFF
            buf[o + 2] = i
            for q in range(m):
                buf[o + HEADER + q] = src[j + q]
            j += m
            c = crc16(buf, o, o + HEADER + m)
            buf[o + HEADER + m] = c & 0xFF
            buf[o + HEADER + m + 1] = c >> 8
            o += m + OVERHEAD
        return k

    def _layout(self, n, per, k):
        views = []
        o = 0
        for i in range(k):
            m = per if i < k - 1 else n - i * per
            views.append(self._mv[o : o + m + OVERHEAD])
            o += m + OVERHEAD
        self.views = views


class Reassembler:
    """Collects the fragments of one message in a preallocated buffer. `feed(frame)` returns MORE, DONE (the message
    is buf[:n], `e2e` its counter) or E_FRAME (`error` says why); a refused frame or a fragment 0 starts over."""

    def __init__(self, cap):
        self.buf = bytearray(cap)
        self.n = 0
        self.e2e = 0
        self.error = ""
        self._next = 0

    def reset(self):
        self.n = 0
        self._next = 0

    def feed(self, frame):
        size = len(frame)
        if size < OVERHEAD:
            return self._fail("short")
        ctl = frame[0]
        if ctl & 0x7F != VERSION:
            return self._fail("version")
        if crc16(frame, 0, size - 2) != frame[size - 2] | frame[size - 1] << 8:
            return self._fail("crc")
        idx = frame[2]
        if idx == 0:
            self.n = 0
            self.e2e = frame[1]
        elif idx != self._next or frame[1] != self.e2e:
            return self._fail("order")
        m = size - OVERHEAD
        n = self.n
        buf = self.buf
        if n + m > len(buf) or (idx == MAX_FRAGMENTS - 1 and not ctl & LAST):
            return self._fail("length")
        for q in range(m):
            buf[n + q] = frame[HEADER + q]
        self.n = n + m
        if ctl & LAST:
            self._next = 0
            return DONE
        self._next = idx + 1
        return MORE

    def _fail(self, why):
        self.error = why
        self.reset()
        return E_FRAME
