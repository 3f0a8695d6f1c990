"""`bluetooth.UUID` as MicroPython has it (16/32-bit ints, 128-bit strings, buffers), and its Bumble equivalent."""

from bumble.core import UUID as BumbleUUID


class UUID:
    """A 16-, 32- or 128-bit UUID; equal and hashed by size and value, like MicroPython (no 16 -> 128 widening)."""

    __slots__ = ("_le",)

    def __init__(self, value):
        if isinstance(value, UUID):
            le = value._le
        elif isinstance(value, int):
            if not 0 <= value < 1 << 32:
                raise ValueError("invalid UUID")
            le = value.to_bytes(2 if value < 1 << 16 else 4, "little")
        elif isinstance(value, str):
            digits = value.replace("-", "")
            if len(digits) not in (4, 8, 32):
                raise ValueError("invalid UUID")
            le = bytes.fromhex(digits)[::-1]
        else:  # a buffer in over-the-air (little-endian) order, e.g. the memoryview an IRQ hands out
            le = bytes(value)
            if len(le) not in (2, 4, 16):
                raise ValueError("invalid UUID")
        self._le = le

    @classmethod
    def from_bumble(cls, uuid):
        return cls(bytes(uuid.uuid_bytes))

    def to_bumble(self):
        return BumbleUUID.from_bytes(self._le)

    def __bytes__(self):
        return self._le

    def __eq__(self, other):
        return isinstance(other, UUID) and self._le == other._le

    def __hash__(self):
        return hash(self._le)

    def __repr__(self):
        if len(self._le) <= 4:
            return "UUID(0x%0*x)" % (2 * len(self._le), int.from_bytes(self._le, "little"))
        h = self._le[::-1].hex()
        return "UUID('%s-%s-%s-%s-%s')" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
