"""The wired programming path's framing: signed command messages and the pump's answers as text lines on the USB
serial console, beside the console status lines (docs/ble.md, "The wired path").

    host -> pump   @pump cmd <message, base64> <CRC-32 of the message, 8 hex digits>
                   @pump status
    pump -> host   @pump ans <response, base64> <CRC-32 of the response>
                   @pump sta <status, base64> <CRC-32 of the status>

A command message is the BLE command point's (pump.cmdauth: opcode, role, counter, parameters, HMAC-SHA256), a
response the command point's (pump.commands), a status the status characteristic's (pump.telemetry): only the
framing differs. A line is ended by CR or LF. A line that does not start with "@pump " is not for the pump (someone
typing, the REPL's echo) and is ignored; one that does but fails a check is answered with E_FRAME and the reason.
"""

import binascii

from pump.compat import const, crc32

PREFIX = b"@pump "
CMD = b"@pump cmd "
STATUS_REQUEST = b"@pump status"
ANSWER = "@pump ans "
STATUS = "@pump sta "
MESSAGE_MAX = const(3072)  # a command message: as the BLE command point's (pump.bleservice.CMD_MAX)
LINE_MAX = const(4124)  # CMD, base64 of MESSAGE_MAX bytes (4096), a space and 8 hex digits

K_NONE = const(0)  # not a line for the pump
K_COMMAND = const(1)
K_STATUS = const(2)
K_BAD = const(3)


def _b64(data):
    return binascii.b2a_base64(data).rstrip(b"\n")


def line(tag, payload):
    """The text line (without line end) carrying `payload` bytes after `tag` (ANSWER or STATUS); hosts use it too."""
    return "%s%s %08x" % (tag, _b64(payload).decode(), crc32(payload) & 0xFFFFFFFF)


def request(message):
    """The line a host writes for a command message (with its line end)."""
    return ("%s%s %08x\n" % (CMD.decode(), _b64(message).decode(), crc32(message) & 0xFFFFFFFF)).encode()


def decode(text, tag):
    """The payload of a line `tag` + base64 + CRC (bytes, or str), or raises ValueError saying why it is refused."""
    if isinstance(text, str):
        text = text.encode()
    tag = tag.encode() if isinstance(tag, str) else tag
    if text[: len(tag)] != tag:
        raise ValueError("not a %s line" % tag.decode().strip())
    fields = bytes(text[len(tag):]).split(b" ")
    if len(fields) != 2 or len(fields[1]) != 8:
        raise ValueError("fields: base64 and an 8-digit CRC expected")
    try:
        payload = binascii.a2b_base64(fields[0])
        crc = int(fields[1], 16)
    except ValueError:
        raise ValueError("base64 or CRC digits")
    if _b64(payload) != fields[0]:  # a2b_base64 skips what it cannot read: only the canonical text is taken
        raise ValueError("base64 or CRC digits")
    if crc32(payload) & 0xFFFFFFFF != crc:
        raise ValueError("crc")
    return payload


def parse(text):
    """(kind, payload): K_COMMAND and the message, K_STATUS, K_NONE (not for the pump), or K_BAD and the reason."""
    if text[: len(PREFIX)] != PREFIX:
        return K_NONE, None
    if text == STATUS_REQUEST:
        return K_STATUS, None
    try:
        message = decode(text, CMD)
    except ValueError as e:
        return K_BAD, str(e.args[0])
    if len(message) > MESSAGE_MAX:
        return K_BAD, "length"
    return K_COMMAND, message


class Lines:
    """Assembles console bytes into lines in one preallocated buffer: `feed(byte)` returns True when a line ended
    (`text()` holds it). A line longer than LINE_MAX is cut short and marked `overflow` (answered as refused, never
    parsed), so a flood of bytes cannot grow the heap."""

    def __init__(self):
        self._buf = bytearray(LINE_MAX)
        self._mv = memoryview(self._buf)
        self.n = 0
        self.overflow = False
        self._done = False

    def feed(self, byte):
        if self._done:  # the previous line was taken: start a new one
            self.n = 0
            self.overflow = False
            self._done = False
        if byte == 10 or byte == 13:
            if self.n == 0 and not self.overflow:
                return False  # an empty line, or the LF of a CR LF
            self._done = True
            return True
        if self.n < LINE_MAX:
            self._buf[self.n] = byte
            self.n += 1
        else:
            self.overflow = True
        return False

    def text(self):
        """The line just ended (bytes; cold path)."""
        return bytes(self._mv[: self.n])

