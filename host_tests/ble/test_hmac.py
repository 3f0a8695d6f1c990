"""HMAC-SHA256 of pump.hmac against the RFC 4231 test vectors, and against CPython's hmac where it exists."""

from binascii import hexlify, unhexlify

from pump.hmac import Hmac, equal, hmac_sha256
from support.session import RFC4231

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

def test_rfc4231_vectors():
    for key, data, expected in RFC4231:
        mac = hmac_sha256(key, data)
        assert len(mac) == 32
        assert hexlify(mac[: len(expected) // 2]).decode() == expected


def test_parts_are_concatenated_and_the_key_object_is_reusable():
    key, data, expected = RFC4231[6]
    h = Hmac(key)
    assert h.digest(data[:10], memoryview(data)[10:50], data[50:]) == unhexlify(expected)
    assert h.digest(data) == unhexlify(expected)  # the pads are not used up
    assert h.digest() == hmac_sha256(key, b"")


def test_against_cpython_hmac():
    try:
        import hashlib
        import hmac
    except ImportError:
        return  # MicroPython: no hmac module to compare with (the RFC vectors above still ran)
    for n in (0, 1, 31, 32, 33, 63, 64, 65, 200):
        key = bytes((i * 7 + n) & 0xFF for i in range(n))
        for m in (0, 1, 55, 56, 64, 1000):
            msg = bytes((i * 13 + m) & 0xFF for i in range(m))
            assert hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


def test_equal():
    assert equal(b"abc", b"abc") and equal(b"", b"")
    assert not equal(b"abc", b"abd") and not equal(b"abc", b"ab") and not equal(b"\x00", b"\x80")
    assert not equal(b"abc", b"xbc") and not equal(b"abc", b"axc")  # a difference before the last byte counts too
    assert equal(memoryview(b"xabc")[1:], b"abc")
