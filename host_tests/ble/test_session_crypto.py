"""The session's primitives against published vectors, on every interpreter: the AES-128 stand-in (FIPS-197) and the
block cipher each interpreter tests with, AES-128-CTR (NIST SP 800-38A), the allocation-free HMAC-SHA256 (RFC 4231,
and pump.hmac on hashlib for every message length around the block edges), HKDF (RFC 5869), the offset compare."""

from binascii import hexlify, unhexlify

from support.aes import PyAes128, new_ecb
from pump.aesctr import AesCtr
from pump.hmac import Hmac, equal_at, hkdf_expand, hmac_sha256
from pump.sha256 import HmacSha256
from support.session import RFC4231

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

# FIPS-197 appendix C.1 and appendix B: (key, plaintext, ciphertext)
FIPS197 = (
    ("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734", "3925841d02dc09fbdc118597196a0b32"),
)
# NIST SP 800-38A F.5.1 CTR-AES128.Encrypt
CTR_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
CTR_COUNTER = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
CTR_PLAIN = ("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
             "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
CTR_CIPHER = ("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
              "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee")
# RFC 5869 A.1 and A.2: (IKM, salt, info, L, PRK, OKM)
RFC5869 = (
    (b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x50)), bytes(range(0x60, 0xB0)), bytes(range(0xB0, 0x100)), 82,
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b"
     "8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
)


def _hex(b):
    return hexlify(bytes(b)).decode()


def test_the_aes_stand_in_and_this_interpreters_block_cipher_pass_fips_197():
    for key, plain, cipher in FIPS197:
        for ecb in (PyAes128(unhexlify(key)), new_ecb(unhexlify(key))):
            out = bytearray(16)
            assert ecb.encrypt(unhexlify(plain), out) is out
            assert _hex(out) == cipher
            assert _hex(ecb.encrypt(unhexlify(plain))) == cipher
        assert _hex(PyAes128(unhexlify(key)).encrypt(unhexlify(plain) * 3)) == cipher * 3  # ECB over whole blocks


def test_the_stand_in_agrees_with_this_interpreters_block_cipher():
    for k in range(8):
        key = bytes((k * 31 + i * 7) & 0xFF for i in range(16))
        ours, theirs = PyAes128(key), new_ecb(key)
        block = bytearray(16)
        for _ in range(4):  # each output is the next input
            a, b = bytearray(16), bytearray(16)
            ours.encrypt(block, a)
            theirs.encrypt(block, b)
            assert a == b
            block = a


def test_aes_ctr_passes_sp800_38a():
    ctr = AesCtr(new_ecb(unhexlify(CTR_KEY)))
    counter = unhexlify(CTR_COUNTER)
    ctr.set_nonce(counter, 0, 12)
    first = int(CTR_COUNTER[24:], 16)
    buf = bytearray(unhexlify(CTR_PLAIN))
    ctr.crypt(buf, 0, len(buf), first)
    assert _hex(buf) == CTR_CIPHER
    ctr.crypt(buf, 0, len(buf), first)  # the same keystream again decrypts
    assert _hex(buf) == CTR_PLAIN


def _keystream(key, nonce, nbytes):
    ecb = PyAes128(key)
    out = b""
    i = 0
    while len(out) < nbytes:
        block = bytes(nonce) + bytes(12 - len(nonce)) + bytes((i >> 24, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF))
        out += ecb.encrypt(block)
        i += 1
    return out[:nbytes]


def test_aes_ctr_pads_the_nonce_counts_from_zero_and_touches_only_its_range():
    key = bytes(range(16, 32))
    ctr = AesCtr(new_ecb(key))
    src = bytearray(b"\xa5" * 3) + bytes(range(5))
    for n in (0, 1, 15, 16, 17, 33, 64):
        buf = bytearray(b"\x77" * 4) + bytearray((i * 13) & 0xFF for i in range(n)) + bytearray(b"\x77" * 4)
        plain = bytes(buf)
        ctr.set_nonce(src, 3, 5)
        ctr.crypt(buf, 4, n)
        ks = _keystream(key, src[3:8], n)
        assert bytes(buf[4 : 4 + n]) == bytes(plain[4 + i] ^ ks[i] for i in range(n))
        assert buf[:4] == plain[:4] and buf[4 + n :] == plain[4 + n :]


def test_aes_ctr_encrypts_one_block_per_16_bytes():
    class Counting:
        def __init__(self):
            self.ecb = PyAes128(bytes(16))
            self.blocks = 0

        def encrypt(self, inb, out):
            self.blocks += 1
            return self.ecb.encrypt(inb, out)

    for n, blocks in ((0, 0), (1, 1), (16, 1), (17, 2), (32, 2), (48, 3)):
        ecb = Counting()
        AesCtr(ecb).crypt(bytearray(n), 0, n)
        assert ecb.blocks == blocks, n


def test_hmac_sha256_passes_rfc_4231_whole_and_truncated():
    for key, data, expected in RFC4231:
        mac = HmacSha256(key)
        n = len(expected) // 2
        out = bytearray(n + 4)
        mac.mac_into(data, 0, len(data), out, 2, n)
        assert _hex(out[2 : 2 + n]) == expected and out[:2] == b"\x00\x00" and out[2 + n :] == b"\x00\x00"
        src = b"xyz" + data + b"!"
        mac.mac_into(src, 3, 3 + len(data), out, 0, n)  # a range inside a bigger buffer
        assert _hex(out[:n]) == expected


def test_hmac_sha256_matches_pump_hmac_at_every_length_around_the_block_edges():
    key = bytes(range(32))
    mac = HmacSha256(key)
    ref = Hmac(key)
    out = bytearray(32)
    for n in list(range(140)) + [191, 192, 193, 1000, 9000]:  # 9000: the bit length needs a third byte
        msg = bytes((i * 37 + n) & 0xFF for i in range(n))
        mac.mac_into(msg, 0, n, out, 0, 32)
        assert bytes(out) == ref.digest(msg), n


def test_keys_up_to_a_block_are_padded_and_longer_ones_hashed():
    out = bytearray(32)
    for n in (0, 1, 32, 63, 64, 65, 100):
        key = bytes((i * 11 + n) & 0xFF for i in range(n))
        HmacSha256(key).mac_into(b"msg", 0, 3, out, 0, 32)
        assert bytes(out) == hmac_sha256(key, b"msg"), n


def test_keys_share_the_scratch_without_mixing():
    a, b = HmacSha256(b"a" * 32), HmacSha256(b"b" * 40)
    out = bytearray(32)
    for n in (3, 70, 130):  # one after the other, long and short: nothing of one tag stays for the next
        msg = bytes(range(n))
        for mac, key in ((a, b"a" * 32), (b, b"b" * 40), (a, b"a" * 32)):
            mac.mac_into(msg, 0, n, out, 0, 32)
            assert bytes(out) == hmac_sha256(key, msg)


def test_hmac_sha256_may_write_its_tag_into_the_buffer_it_reads():
    key = b"k" * 32
    buf = bytearray(b"message body" + bytes(16))
    HmacSha256(key).mac_into(buf, 0, 12, buf, 12, 16)
    assert bytes(buf[12:]) == hmac_sha256(key, b"message body")[:16]


def test_hkdf_passes_rfc_5869():
    for ikm, salt, info, n, prk, okm in RFC5869:
        assert _hex(Hmac(salt).digest(ikm)) == prk  # HKDF-Extract: HMAC keyed with the salt
        assert _hex(hkdf_expand(unhexlify(prk), info, n)) == okm
    assert len(hkdf_expand(b"k" * 32, b"", 128)) == 128


def test_equal_at_compares_ranges():
    a = b"..abcdef"
    assert equal_at(a, 2, b"abcdef", 0, 6) and equal_at(a, 2, b"xabc", 1, 3) and equal_at(a, 0, b"", 0, 0)
    assert not equal_at(a, 2, b"abcdeF", 0, 6) and not equal_at(a, 2, b"Xbcdef", 0, 6)
