"""BLE bond secrets of the stack (_IRQ_GET_SECRET / _IRQ_SET_SECRET) in a power-fail-safe store; when full, the
oldest secret is dropped (that peer pairs again). Secrets of a pairing not (yet) known to be MITM-authenticated are
held in memory only: kept once the link proves authenticated (`commit`), dropped with the link (`drop`), so Just Works
pairings neither evict a clinician's passkey bond nor rewrite the flash. Payload: entries of sec_type u8, key length
u8, value length u16, key, value, oldest first."""

import struct

from pump.compat import const
from pump.errors import PumpError
from pump.store import Store

MAX_BYTES = const(2048)
_ENTRY = "<BBH"


class Secrets:
    """The stack's secrets in memory, saved by `save()` when `dirty` (IRQ handlers only mark them)."""

    def __init__(self, storage, name="bonds", max_bytes=MAX_BYTES):
        self._store = Store(storage, name, max_payload=max_bytes)
        self._max = max_bytes
        self.entries = []  # [sec_type, key, value], oldest first
        self.pending = []  # the same, from a pairing not known to be authenticated: memory only
        self.dirty = False
        try:
            raw = self._store.load() or b""
        except PumpError:
            raw = b""
        off = 0
        while off + 4 <= len(raw):
            t, kn, vn = struct.unpack_from(_ENTRY, raw, off)
            off += 4
            if off + kn + vn > len(raw):
                break
            self.entries.append([t, bytes(raw[off : off + kn]), bytes(raw[off + kn : off + kn + vn])])
            off += kn + vn

    def get(self, sec_type, index, key):
        """The value stored for (sec_type, key); with key None, the index-th value of that sec_type."""
        if key is not None:
            key = bytes(key)
        i = 0
        for t, k, v in self.pending + self.entries:
            if t == sec_type:
                if key is None:
                    if i == index:
                        return v
                    i += 1
                elif k == key:
                    return v
        return None

    def set(self, sec_type, key, value, trusted=True):
        """Store (or with value None delete) the secret; True when done. Not `trusted` (a pairing not known to be
        MITM-authenticated): held in memory until `commit` or `drop`."""
        key = bytes(key)
        self.pending = [e for e in self.pending if e[0] != sec_type or e[1] != key]
        if not trusted:
            if value is not None:
                self.pending.append([sec_type, key, bytes(value)])
            return True
        self.entries = [e for e in self.entries if e[0] != sec_type or e[1] != key]
        if value is not None:
            value = bytes(value)
            if 4 + len(key) + len(value) > self._max or len(key) > 255:
                return False
            self.entries.append([sec_type, key, value])
            while self._size() > self._max:
                del self.entries[0]
        self.dirty = True
        return True

    def commit(self):
        """The link proved MITM-authenticated: the secrets held for it are stored."""
        pending, self.pending = self.pending, []
        for t, k, v in pending:
            self.set(t, k, v)

    def drop(self):
        """The link ended unauthenticated: the secrets held for it are forgotten (nothing was written)."""
        self.pending = []

    def save(self):
        """Write the secrets to the store (PumpError on a storage failure; they stay marked dirty)."""
        parts = []
        for t, k, v in self.entries:
            parts.append(struct.pack(_ENTRY, t, len(k), len(v)) + k + v)
        self._store.save(b"".join(parts))
        self.dirty = False

    def _size(self):
        n = 0
        for e in self.entries:
            n += 4 + len(e[1]) + len(e[2])
        return n
