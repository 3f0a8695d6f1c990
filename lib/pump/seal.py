"""Sealed messages of a secure session, one direction: AES-128-CTR encryption and a truncated HMAC-SHA256 tag under
that direction's session keys, and a strictly increasing counter per stream (replays and reordering refused).
Sealing and opening allocate nothing; docs/ble.md ("Secure session") gives the layout:

    offset  size  field
    0       1     stream   the characteristic the message belongs to (STREAM_*: the XX of its UUID 7b0d00XX)
    1       4     seq      u32 little-endian, 1, 2, ... per stream and direction, below 2**30
    5       n     the payload, encrypted: AES-128-CTR, nonce = bytes 0..4 then 7 zero bytes
    5+n     16    tag      the first 16 bytes of HMAC-SHA256(mac key, bytes 0 .. 4+n)

Each stream counts on its own because messages of different characteristics complete out of their sealing order
(a status notification overtakes an alarm still being indicated frame by frame); within a stream, order holds.
"""

from pump.aesctr import AesCtr
from pump.compat import const
from pump.errors import E_AUTH, E_MALFORMED, E_REPLAY
from pump.hmac import equal_at
from pump.sha256 import HmacSha256

STREAM_STATUS = const(2)
STREAM_ALARM = const(3)
STREAM_RACP = const(4)
STREAM_HISTORY = const(5)
STREAM_COMMAND = const(6)
STREAMS = const(8)  # stream ids 1..7 are valid
HEAD_LEN = const(5)
TAG_LEN = const(16)
OVERHEAD = const(21)  # HEAD_LEN + TAG_LEN
MAX_SEQ = const(0x3FFFFFFF)  # a small int on the boards; the session is renewed before it runs out (34 years at 1/s)


class Channel:
    """One direction of a session: `seal` on the sending side, `open` on the receiving side. `new_ecb(key16)` makes
    the block cipher (cryptolib.aes(key, 1) on the boards). `seqs[s]` is the last counter sealed or opened on s."""

    def __init__(self, enc_key, mac_key, new_ecb):
        self._ctr = AesCtr(new_ecb(bytes(enc_key)))
        self._mac = HmacSha256(mac_key)
        self._tag = bytearray(TAG_LEN)
        self.seqs = [0] * STREAMS
        self.n = 0  # payload length of the last message opened

    def seal(self, stream, src, n, out):
        """Seal src[:n] as the next message of `stream` into out (n + OVERHEAD bytes; not the buffer of src);
        returns the sealed length, or 0 when the stream's counter is used up (the session must be renewed)."""
        seq = self.seqs[stream] + 1
        if seq > MAX_SEQ:
            return 0
        out[0] = stream
        out[1] = seq & 0xFF
        out[2] = (seq >> 8) & 0xFF
        out[3] = (seq >> 16) & 0xFF
        out[4] = seq >> 24
        for i in range(n):
            out[HEAD_LEN + i] = src[i]
        ctr = self._ctr
        ctr.set_nonce(out, 0, HEAD_LEN)
        ctr.crypt(out, HEAD_LEN, n)
        self._mac.mac_into(out, 0, HEAD_LEN + n, out, HEAD_LEN + n, TAG_LEN)
        self.seqs[stream] = seq
        return n + OVERHEAD

    def open(self, stream, msg, n):
        """Check and decrypt the sealed message msg[:n] received on `stream`: 0, the payload then in msg[:self.n]
        and the stream's counter advanced; or the refusal's code with nothing changed (E_MALFORMED: length, stream
        or counter field; E_REPLAY: a counter not above the last one opened; E_AUTH: the tag)."""
        if n < OVERHEAD or n > len(msg) or not 0 < stream < STREAMS or msg[0] != stream or msg[4] > 0x3F:
            return E_MALFORMED
        seq = msg[1] | (msg[2] << 8) | (msg[3] << 16) | (msg[4] << 24)
        if seq <= self.seqs[stream]:
            return E_REPLAY
        end = n - TAG_LEN
        tag = self._tag
        self._mac.mac_into(msg, 0, end, tag, 0, TAG_LEN)
        if not equal_at(tag, 0, msg, end, TAG_LEN):
            return E_AUTH
        ctr = self._ctr
        ctr.set_nonce(msg, 0, HEAD_LEN)
        ctr.crypt(msg, HEAD_LEN, end - HEAD_LEN)
        for i in range(end - HEAD_LEN):  # the payload to the front: the buffer then reads as an unsealed message
            msg[i] = msg[HEAD_LEN + i]
        self.seqs[stream] = seq
        self.n = end - HEAD_LEN
        return 0
