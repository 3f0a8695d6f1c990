"""The wired programming path on the pump: console lines (hw.console) framed as pump.wire says, each command
authenticated and applied exactly as on the BLE command point (pump.commands.execute, the same CommandAuth and so
the same per-role counters), each answer printed on its own line between the status lines."""

from pump import wire
from pump.commands import RESPONSE_LEN, execute, pack_response
from pump.errors import E_FRAME
from pump.telemetry import STATUS_LEN, Telemetry

_READ_CHUNK = 64  # bytes taken from the console per wake-up at most
_REASON_MAX = 200  # a refusal's reason on the wire (a USB line has room for more than a BLE frame's 48 bytes)


class Wired:
    """`console.readinto(buf)` (awaitable: waits for a byte, returns how many it put in buf), `auth` the pump's one
    pump.cmdauth.CommandAuth, `out(line)` the console, `changed()` called after a command ran (BLE status, alarms)."""

    def __init__(self, pump, auth, console, clock, out=print, changed=None):
        self.pump = pump
        self.auth = auth
        self._console = console
        self._clock = clock
        self._out = out
        self._changed = changed
        self._lines = wire.Lines()
        self._buf = bytearray(_READ_CHUNK)
        self._resp = bytearray(RESPONSE_LEN + _REASON_MAX)
        self._status = bytearray(STATUS_LEN)
        self._telemetry = Telemetry(pump)
        self.commands = 0  # commands answered (accepted or refused), for tests and the bench

    async def run(self):
        """The task: read what arrives, answer every line for the pump; waits (no wake-up owed) otherwise."""
        buf = self._buf
        lines = self._lines
        while True:
            n = await self._console.readinto(buf)
            for i in range(n):
                if lines.feed(buf[i]):
                    self.line(lines.text(), lines.overflow)

    def line(self, text, overflow=False):
        """Answer one console line; returns the answer printed, or None for a line that is not for the pump."""
        if overflow:
            if text[: len(wire.PREFIX)] != wire.PREFIX:
                return None
            kind, got = wire.K_BAD, "length"
        else:
            kind, got = wire.parse(text)
        if kind == wire.K_NONE:
            return None
        now = self._clock.ticks_ms()
        if kind == wire.K_STATUS:
            self._telemetry.status(self._status, now)
            return self._say(wire.line(wire.STATUS, self._status))
        if kind == wire.K_BAD or type(got) is not bytes:
            n = pack_response(self._resp, 0, E_FRAME, 0, got or "")
        else:
            message = got
            code, data = execute(self.pump, self.auth, message, len(message), now)
            opcode = message[0] if message else 0  # an empty message is answered too (E_MALFORMED), never a fault
            n = pack_response(self._resp, opcode, code, self.auth.last_counter(self.auth.role), data)
            self.commands += 1
        answer = self._say(wire.line(wire.ANSWER, memoryview(self._resp)[:n]))
        if kind == wire.K_COMMAND and self._changed is not None:
            self._changed()
        return answer

    def _say(self, text):
        self._out(text)
        return text
