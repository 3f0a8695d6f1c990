"""HMAC-SHA256 that allocates nothing per tag, for the sealed BLE frames: SHA-256 in 16-bit halves (small ints on a
32-bit port), the key's pad blocks hashed once. hashlib cannot do this on MicroPython: every sha256() and digest()
allocates, and there is no copy() to reuse a hashed pad. Cold paths (handshake, commands) keep pump.hmac on hashlib.
"""

import hashlib

from pump.compat import const

_BLOCK = const(64)
_MASK = const(0xFFFF)
# the round constants and initial state (FIPS 180-4), each 32-bit word as its high and low halves
_K = (
    0x428A, 0x2F98, 0x7137, 0x4491, 0xB5C0, 0xFBCF, 0xE9B5, 0xDBA5, 0x3956, 0xC25B, 0x59F1, 0x11F1, 0x923F, 0x82A4,
    0xAB1C, 0x5ED5, 0xD807, 0xAA98, 0x1283, 0x5B01, 0x2431, 0x85BE, 0x550C, 0x7DC3, 0x72BE, 0x5D74, 0x80DE, 0xB1FE,
    0x9BDC, 0x06A7, 0xC19B, 0xF174, 0xE49B, 0x69C1, 0xEFBE, 0x4786, 0x0FC1, 0x9DC6, 0x240C, 0xA1CC, 0x2DE9, 0x2C6F,
    0x4A74, 0x84AA, 0x5CB0, 0xA9DC, 0x76F9, 0x88DA, 0x983E, 0x5152, 0xA831, 0xC66D, 0xB003, 0x27C8, 0xBF59, 0x7FC7,
    0xC6E0, 0x0BF3, 0xD5A7, 0x9147, 0x06CA, 0x6351, 0x1429, 0x2967, 0x27B7, 0x0A85, 0x2E1B, 0x2138, 0x4D2C, 0x6DFC,
    0x5338, 0x0D13, 0x650A, 0x7354, 0x766A, 0x0ABB, 0x81C2, 0xC92E, 0x9272, 0x2C85, 0xA2BF, 0xE8A1, 0xA81A, 0x664B,
    0xC24B, 0x8B70, 0xC76C, 0x51A3, 0xD192, 0xE819, 0xD699, 0x0624, 0xF40E, 0x3585, 0x106A, 0xA070, 0x19A4, 0xC116,
    0x1E37, 0x6C08, 0x2748, 0x774C, 0x34B0, 0xBCB5, 0x391C, 0x0CB3, 0x4ED8, 0xAA4A, 0x5B9C, 0xCA4F, 0x682E, 0x6FF3,
    0x748F, 0x82EE, 0x78A5, 0x636F, 0x84C8, 0x7814, 0x8CC7, 0x0208, 0x90BE, 0xFFFA, 0xA450, 0x6CEB, 0xBEF9, 0xA3F7,
    0xC671, 0x78F2,
)
_IV = (0x6A09, 0xE667, 0xBB67, 0xAE85, 0x3C6E, 0xF372, 0xA54F, 0xF53A, 0x510E, 0x527F, 0x9B05, 0x688C, 0x1F83,
       0xD9AB, 0x5BE0, 0xCD19)
# scratch shared by every key (one tag at a time: tasks take turns and IRQ handlers never make one): the schedule,
# the running state and the padding block, about 0.7 KB on a 32-bit port
_W = [0] * 128
_ST = [0] * 16
_BLK = bytearray(_BLOCK)


def compress(st, w, blk, off):
    """One SHA-256 block blk[off:off+64] into the state st (16 halves, high first); w: 128 small ints of scratch.
    A rotation of a word (h, l) by n < 16 is ((h >> n) | (l << 16-n), (l >> n) | (h << 16-n)) with the shifted-up
    half masked first, so no intermediate reaches 2**30; by n >= 16 the halves swap first."""
    i = 0
    j = off
    while i < 32:
        w[i] = (blk[j] << 8) | blk[j + 1]
        w[i + 1] = (blk[j + 2] << 8) | blk[j + 3]
        i += 2
        j += 4
    while i < 128:  # schedule: w[t] = s1(w[t-2]) + w[t-7] + s0(w[t-15]) + w[t-16]
        xh = w[i - 30]
        xl = w[i - 29]
        yh = w[i - 4]
        yl = w[i - 3]
        lo = (w[i - 31] + w[i - 13]
              + (((xl >> 7) | ((xh & 0x7F) << 9)) ^ ((xh >> 2) | ((xl & 3) << 14)) ^ ((xl >> 3) | ((xh & 7) << 13)))
              + (((yh >> 1) | ((yl & 1) << 15)) ^ ((yh >> 3) | ((yl & 7) << 13)) ^ ((yl >> 10) | ((yh & 0x3FF) << 6))))
        w[i] = (w[i - 32] + w[i - 14] + (lo >> 16)
                + (((xh >> 7) | ((xl & 0x7F) << 9)) ^ ((xl >> 2) | ((xh & 3) << 14)) ^ (xh >> 3))
                + (((yl >> 1) | ((yh & 1) << 15)) ^ ((yl >> 3) | ((yh & 7) << 13)) ^ (yh >> 10))) & _MASK
        w[i + 1] = lo & _MASK
        i += 2
    ah = st[0]
    al = st[1]
    bh = st[2]
    bl = st[3]
    ch = st[4]
    cl = st[5]
    dh = st[6]
    dl = st[7]
    eh = st[8]
    el = st[9]
    fh = st[10]
    fl = st[11]
    gh = st[12]
    gl = st[13]
    hh = st[14]
    hl = st[15]
    k = _K
    i = 0
    while i < 128:  # t1 = h + S1(e) + ch(e, f, g) + k[t] + w[t]; t2 = S0(a) + maj(a, b, c)
        t1l = (hl + k[i + 1] + w[i + 1] + ((el & fl) ^ (~el & gl))
               + (((el >> 6) | ((eh & 0x3F) << 10)) ^ ((el >> 11) | ((eh & 0x7FF) << 5))
                  ^ ((eh >> 9) | ((el & 0x1FF) << 7))))
        t1h = (hh + k[i] + w[i] + (t1l >> 16) + ((eh & fh) ^ (~eh & gh))
               + (((eh >> 6) | ((el & 0x3F) << 10)) ^ ((eh >> 11) | ((el & 0x7FF) << 5))
                  ^ ((el >> 9) | ((eh & 0x1FF) << 7))))
        t1l &= _MASK
        t2l = (((al & (bl | cl)) | (bl & cl))
               + (((al >> 2) | ((ah & 3) << 14)) ^ ((al >> 13) | ((ah & 0x1FFF) << 3))
                  ^ ((ah >> 6) | ((al & 0x3F) << 10))))
        t2h = (((ah & (bh | ch)) | (bh & ch))
               + (((ah >> 2) | ((al & 3) << 14)) ^ ((ah >> 13) | ((al & 0x1FFF) << 3))
                  ^ ((al >> 6) | ((ah & 0x3F) << 10))))
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        s = dl + t1l
        el = s & _MASK
        eh = (dh + t1h + (s >> 16)) & _MASK
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        s = t1l + t2l
        al = s & _MASK
        ah = (t1h + t2h + (s >> 16)) & _MASK
        i += 2
    _add(st, 0, ah, al)
    _add(st, 2, bh, bl)
    _add(st, 4, ch, cl)
    _add(st, 6, dh, dl)
    _add(st, 8, eh, el)
    _add(st, 10, fh, fl)
    _add(st, 12, gh, gl)
    _add(st, 14, hh, hl)


def _add(st, i, h, l):
    s = st[i + 1] + l
    st[i + 1] = s & _MASK
    st[i] = (st[i] + h + (s >> 16)) & _MASK


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key. `mac_into(src, start, end, out, at, n)` writes the first n bytes of the
    MAC of src[start:end] to out[at:at+n] and allocates nothing; the states after the key's inner and outer pad blocks
    are computed here, once, which also saves two of the four blocks a short message costs."""

    def __init__(self, key):
        key = bytes(key)
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        self._inner = _pad_state(key, 0x36)
        self._outer = _pad_state(key, 0x5C)

    def mac_into(self, src, start, end, out, at, n):
        """The first n (<= 32) bytes of HMAC(key, src[start:end]) into out[at:at+n]; src and out may be one buffer
        (the MAC is written after src is read). Messages below 2**21 - 64 bytes (the firmware's are 3 KB at most)."""
        st = _ST
        w = _W
        blk = _BLK
        src_state = self._inner
        for i in range(16):
            st[i] = src_state[i]
        off = start
        while end - off >= _BLOCK:
            compress(st, w, src, off)
            off += _BLOCK
        r = end - off
        for i in range(r):
            blk[i] = src[off + i]
        blk[r] = 0x80
        for i in range(r + 1, _BLOCK):
            blk[i] = 0
        if r > 55:  # no room for the length: one more block
            compress(st, w, blk, 0)
            for i in range(56):
                blk[i] = 0
        _length(blk, _BLOCK + end - start)
        compress(st, w, blk, 0)
        for i in range(16):  # the inner digest, padded, is the outer hash's second and last block
            blk[2 * i] = st[i] >> 8
            blk[2 * i + 1] = st[i] & 0xFF
        blk[32] = 0x80
        for i in range(33, 56):
            blk[i] = 0
        _length(blk, _BLOCK + 32)
        src_state = self._outer
        for i in range(16):
            st[i] = src_state[i]
        compress(st, w, blk, 0)
        for i in range(n):
            v = st[i >> 1]
            out[at + i] = v & 0xFF if i & 1 else v >> 8


def _pad_state(key, pad):
    """The state after the block of the key xor pad (HMAC's inner or outer key block)."""
    blk = bytearray(_BLOCK)
    for i in range(_BLOCK):
        blk[i] = (key[i] if i < len(key) else 0) ^ pad
    st = list(_IV)
    compress(st, _W, blk, 0)
    return st


def _length(blk, nbytes):
    """The message length in bits, big-endian, into the last 8 bytes of a padding block (nbytes < 2**21: three)."""
    bits = nbytes << 3
    for i in range(56, 61):
        blk[i] = 0
    blk[61] = bits >> 16
    blk[62] = (bits >> 8) & 0xFF
    blk[63] = bits & 0xFF
