"""HMAC-SHA256 of pump.hmac against the RFC 4231 test vectors, and against CPython's hmac where it exists."""

from binascii import hexlify, unhexlify

from pump.hmac import Hmac, equal, hmac_sha256

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_LONG_KEY = b"\xaa" * 131
# RFC 4231 section 4: (key, data, HMAC-SHA256); case 5 is compared truncated to 128 bits, as the RFC gives it
RFC4231 = (
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (_LONG_KEY, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (_LONG_KEY, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs "
     b"to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


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
