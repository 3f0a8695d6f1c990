"""Simulated board, the flash: the storage role (docs/roles.md) in memory, with power-cut injection and bit rot."""


class PowerCut(BaseException):
    """Power failed during a write/append, or storage was used while the power is off.

    A BaseException, not an Exception: on a board nothing runs after the cut, so the code under test must not be able
    to swallow it in a broad `except Exception` fault handler and carry on writing.
    """


class FakeStorage:
    """Named blobs in a dict (name -> bytearray).

    `cut_after(n)` arms a cut: the write/append during which the n-th further byte reaches flash stops right there
    (exactly n more bytes written, possibly all of that call's data) and raises PowerCut. A `write` is truncate then
    write bytes, so a cut write leaves the blob truncated to what was written; a cut `append` leaves a partial tail.
    After a cut the storage is off (every call raises PowerCut) until `power_on()`, which models the reboot.
    """

    def __init__(self):
        self.blobs = {}
        self.writes = 0
        self.appends = 0
        self.removes = 0
        self.bytes_written = 0
        self.last_written = None  # name of the blob the last write/append touched
        self.powered = True
        self._budget = -1  # bytes that may still reach flash before the armed cut; -1 when no cut is armed

    # --- the storage role ---

    def read(self, name):
        self._need_power()
        blob = self.blobs.get(name)
        return None if blob is None else bytes(blob)

    def write(self, name, data):
        self._need_power()
        self.writes += 1
        blob = bytearray()
        self.blobs[name] = blob
        self._put(name, blob, data)

    def append(self, name, data):
        self._need_power()
        self.appends += 1
        blob = self.blobs.get(name)
        if blob is None:
            blob = bytearray()
            self.blobs[name] = blob
        self._put(name, blob, data)

    def remove(self, name):
        """Remove a blob; a missing one is not an error (like the boards' storage role)."""
        self._need_power()
        self.removes += 1
        if name in self.blobs:
            del self.blobs[name]

    # --- test controls ---

    def cut_after(self, n_bytes):
        """Arm a power cut after exactly n_bytes more bytes reach flash (0: the next write/append writes nothing)."""
        if n_bytes < 0:
            raise ValueError("n_bytes")
        self._budget = n_bytes

    def cancel_cut(self):
        self._budget = -1

    def power_on(self):
        """Power comes back (the board reboots): storage works again, no cut armed."""
        self.powered = True
        self._budget = -1

    def corrupt(self, name, offset, mask=0xFF):
        """Flip bits (mask) of one stored byte, like bit rot; offset may be negative (from the end)."""
        self.blobs[name][offset] ^= mask

    def clone(self):
        """An independent copy of the stored blobs (powered, no cut armed, counters at zero)."""
        other = FakeStorage()
        for name in self.blobs:
            other.blobs[name] = bytearray(self.blobs[name])
        return other

    # --- internals ---

    def _need_power(self):
        if not self.powered:
            raise PowerCut("storage is off")

    def _put(self, name, blob, data):
        self.last_written = name
        n = len(data)
        budget = self._budget
        if budget < 0 or n < budget:
            blob.extend(data)
            self.bytes_written += n
            if budget >= 0:
                self._budget = budget - n
            return
        blob.extend(data[:budget])
        self.bytes_written += budget
        self._budget = -1
        self.powered = False
        raise PowerCut("cut after %d bytes of %s" % (budget, name))
