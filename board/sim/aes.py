"""The simulated board's `aes` role where the interpreter has no cryptolib (the webassembly port; CPython): AES-128
ECB in pure Python with cryptolib.aes's encrypt(in[, out]), allocation-free like the C one, checked against FIPS-197
(host_tests/ble/test_session_crypto.py). Slow (about 1 ms a block on the 32-bit port): a stand-in, never a board's."""

_NR = 10  # AES-128 rounds


def _tables():
    sbox = bytearray(256)
    p = q = 1
    while True:  # p runs through the multiplicative group (generator 3), q through its inverses
        p ^= ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q
        for s in (1, 2, 3, 4):
            x ^= ((q << s) | (q >> (8 - s))) & 0xFF
        sbox[p] = x ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63
    mul2 = bytearray(((b << 1) ^ (0x1B if b & 0x80 else 0)) & 0xFF for b in range(256))
    return bytes(sbox), bytes(mul2)


SBOX, MUL2 = _tables()
# ShiftRows on the column-major state: output byte i comes from input byte SHIFT[i]
SHIFT = bytes((i + 4 * (i % 4)) % 16 for i in range(16))


class PyAes128:
    """AES-128 in ECB mode: encrypt(in, out) for whole 16-byte blocks, nothing allocated when `out` is given."""

    def __init__(self, key, mode=1):
        if len(key) != 16 or mode != 1:
            raise ValueError("AES-128 ECB only")
        rk = bytearray(16 * (_NR + 1))
        for i in range(16):
            rk[i] = key[i]
        rcon = 1
        for i in range(16, len(rk), 4):
            a, b, c, d = rk[i - 4], rk[i - 3], rk[i - 2], rk[i - 1]
            if i % 16 == 0:
                a, b, c, d = SBOX[b] ^ rcon, SBOX[c], SBOX[d], SBOX[a]
                rcon = MUL2[rcon]
            rk[i], rk[i + 1], rk[i + 2], rk[i + 3] = rk[i - 16] ^ a, rk[i - 15] ^ b, rk[i - 14] ^ c, rk[i - 13] ^ d
        self._rk = rk
        self._s = bytearray(16)
        self._t = bytearray(16)

    def encrypt(self, inb, out=None):
        if len(inb) % 16:
            raise ValueError("blksize % 16")
        if out is None:
            out = bytearray(len(inb))
            for o in range(0, len(inb), 16):
                self._block(inb, o, out)
            return bytes(out)
        for o in range(0, len(inb), 16):
            self._block(inb, o, out)
        return out

    def _block(self, inb, o, out):
        rk = self._rk
        s = self._s
        t = self._t
        sbox = SBOX
        shift = SHIFT
        m2 = MUL2
        for i in range(16):
            s[i] = inb[o + i] ^ rk[i]
        r = 16
        while r < 16 * _NR:
            for i in range(16):
                t[i] = sbox[s[shift[i]]]
            for c in range(0, 16, 4):
                a0 = t[c]
                a1 = t[c + 1]
                a2 = t[c + 2]
                a3 = t[c + 3]
                s[c] = m2[a0] ^ m2[a1] ^ a1 ^ a2 ^ a3 ^ rk[r + c]
                s[c + 1] = a0 ^ m2[a1] ^ m2[a2] ^ a2 ^ a3 ^ rk[r + c + 1]
                s[c + 2] = a0 ^ a1 ^ m2[a2] ^ m2[a3] ^ a3 ^ rk[r + c + 2]
                s[c + 3] = m2[a0] ^ a0 ^ a1 ^ a2 ^ m2[a3] ^ rk[r + c + 3]
            r += 16
        for i in range(16):
            out[o + i] = sbox[s[shift[i]]] ^ rk[r + i]


def new_ecb(key):
    """cryptolib.aes(key, 1) where the interpreter has it, else the stand-in."""
    try:
        import cryptolib
    except ImportError:
        return PyAes128(key)
    return cryptolib.aes(bytes(key), 1)
