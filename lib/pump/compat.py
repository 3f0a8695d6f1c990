"""Common ground between MicroPython and CPython: const, ticks with the boards' 2**30 wrap, CRC32, heap lock."""

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython

    def const(x):
        return x


try:
    from micropython import heap_lock, heap_unlock  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython has no heap to lock

    def heap_lock():
        pass

    def heap_unlock():
        return 0


from binascii import crc32

# The boards' ticks wrap at 2**30 (31-bit small ints). The unix port wraps much later, so every ticks value the
# logic sees (device or simulator) is treated with this exact period, in pure small-int arithmetic.
TICKS_MASK = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)


def ticks_add(ticks, delta_ms):
    """ticks + delta_ms, wrapped like time.ticks_add on the boards (|delta_ms| < 2**29), never past a small int."""
    if delta_ms >= 0:
        if ticks <= TICKS_MASK - delta_ms:
            return ticks + delta_ms
        return ticks - (TICKS_MASK - delta_ms) - 1
    s = ticks + delta_ms
    return s + TICKS_MASK + 1 if s < 0 else s


# MicroPython's divmod() leaves its results as big-int objects even when they fit a small int, and every later
# operation on them allocates (seen on the 32-bit port): lib/pump uses // and % instead, which return small ints.


def ticks_diff(a, b):
    """Signed a - b in ms, like time.ticks_diff on the boards; every intermediate stays a small int."""
    d = (a - b) & TICKS_MASK
    if d >= _TICKS_HALF:
        d = d - _TICKS_HALF - _TICKS_HALF
    return d


def is_micropython():
    import sys

    return sys.implementation.name == "micropython"


__all__ = ["TICKS_MASK", "const", "crc32", "heap_lock", "heap_unlock", "is_micropython", "ticks_add", "ticks_diff"]
