"""HMAC-SHA256 (RFC 2104) on hashlib.sha256, which MicroPython has without an hmac module; constant-time compare."""

import hashlib

from pump.compat import const

_BLOCK = const(64)  # SHA-256 block size in bytes


class Hmac:
    """HMAC-SHA256 under one key, its pads computed once; `digest(*parts)` MACs the parts' concatenation."""

    def __init__(self, key):
        key = bytes(key)
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key + bytes(_BLOCK - len(key))
        self._inner = bytes(b ^ 0x36 for b in key)
        self._outer = bytes(b ^ 0x5C for b in key)

    def digest(self, *parts):
        h = hashlib.sha256(self._inner)
        for part in parts:
            h.update(part)
        o = hashlib.sha256(self._outer)
        o.update(h.digest())
        return o.digest()


def hmac_sha256(key, msg):
    """HMAC-SHA256 of msg under key (32 bytes)."""
    return Hmac(key).digest(msg)


def equal(a, b):
    """a == b for byte strings, in a time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0
