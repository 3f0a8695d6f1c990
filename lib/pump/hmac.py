"""HMAC-SHA256 (RFC 2104) on hashlib.sha256, which MicroPython has without an hmac module; HKDF-Expand (RFC 5869)
on it; constant-time compare."""

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


def hkdf_expand(prk, info, n):
    """HKDF-Expand (RFC 5869) with HMAC-SHA256: n (<= 8160) bytes of output keying material from the key prk."""
    h = Hmac(prk)
    out = b""
    t = b""
    i = 1
    while len(out) < n:
        t = h.digest(t, info, bytes((i,)))
        out += t
        i += 1
    return out[:n]


def equal(a, b):
    """a == b for byte strings, in a time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    return equal_at(a, 0, b, 0, len(a))


def equal_at(a, i, b, j, n):
    """a[i:i+n] == b[j:j+n] without slicing (allocates nothing), in a time that does not depend on where they differ."""
    d = 0
    for k in range(n):
        d |= a[i + k] ^ b[j + k]
    return d == 0
