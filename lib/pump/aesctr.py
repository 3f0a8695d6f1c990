"""AES-128-CTR (NIST SP 800-38A) on an injected ECB block cipher, allocation-free: the boards pass
cryptolib.aes(key, 1), whose encrypt(in, out) fills a caller buffer (stock builds have ECB and CBC, no CTR).

Counter block: a 12-byte nonce, then a 32-bit big-endian block counter from 0 (as Web Crypto's AES-CTR with
length 32 counts), so a message of up to 2**32 blocks never reuses a block of keystream under one nonce.
"""

from pump.compat import const

BLOCK = const(16)
NONCE_LEN = const(12)


class AesCtr:
    """`ecb`: an object with encrypt(in16, out16) under the key (cryptolib.aes(key, 1), or a test stand-in)."""

    def __init__(self, ecb):
        self._encrypt = ecb.encrypt
        self._ctr = bytearray(BLOCK)
        self._ks = bytearray(BLOCK)

    def set_nonce(self, src, off, n):
        """The nonce is src[off:off+n] (n <= 12) followed by zero bytes."""
        ctr = self._ctr
        for i in range(NONCE_LEN):
            ctr[i] = src[off + i] if i < n else 0

    def crypt(self, buf, start, n, first=0):
        """XOR the keystream into buf[start:start+n] in place (encrypts and decrypts); blocks count from `first`."""
        ctr = self._ctr
        ks = self._ks
        encrypt = self._encrypt
        c = first
        i = 0
        while i < n:
            ctr[12] = (c >> 24) & 0xFF
            ctr[13] = (c >> 16) & 0xFF
            ctr[14] = (c >> 8) & 0xFF
            ctr[15] = c & 0xFF
            encrypt(ctr, ks)
            m = n - i if n - i < BLOCK else BLOCK
            o = start + i
            for j in range(m):
                buf[o + j] ^= ks[j]
            i += BLOCK
            c += 1
