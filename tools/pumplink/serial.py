"""The programmer's wired link to a pump: the signed command messages of the BLE command point, framed as text lines
on the pump's USB serial console (lib/pump/wire.py), through pyserial (a bench pump on /dev/ttyACM0) or any port with
the same calls (the emulated Pico: verify/emu/console.py). The console's status lines and the REPL are untouched:
every line of the protocol starts with "@pump ", and answers arrive on lines of their own.

Port seam: `write(bytes)`; `readline() -> bytes` (a line with its end, what arrived within the port's timeout, or
b""); `close()`. Counters as on BLE (tools/pumplink/ble.py): from the host clock, once signed again just above the
pump's last accepted counter when it says ours is stale or too far ahead.
"""

import time

from tools.pumplink.ble import encode, host_counter
from tools.pumplink.link import Link, LinkError, check_call

from tools.pumplink import proto as pp

from pump import wire
from pump.errors import E_COUNTER_AHEAD, E_REPLAY, PumpError

BAUD = 115200  # USB CDC ignores it; a UART console needs it
READ_TIMEOUT_S = 0.5
ANSWER_TIMEOUT_S = 10.0
# response fields a command returns
RESULT_KEYS = ("eri_days", "eos_days", "bridge_nl", "expected_ul", "tolerance_ul", "discrepancy_ul", "holds",
               "acknowledged", "silence_ms")


class SerialLink(Link):
    """Commands and status over a serial port (the seam above) to a running pump, signed with `key` for `role`.
    `clock()` measures the answer timeout (seconds; the emulator's port gives emulated time)."""

    def __init__(self, port, key, role=pp.ROLE_CLINICIAN, counter=None, timeout_s=ANSWER_TIMEOUT_S,
                 clock=time.monotonic, name="the serial port"):
        self.port = port
        self.key = key
        self.role = role
        self.counter = host_counter() if counter is None else counter  # the next command's counter
        self.timeout_s = timeout_s
        self.clock = clock
        self.name = name
        self.lines = []  # every other line the console printed meanwhile (status lines, the pump's messages)

    @classmethod
    def open(cls, device, key, **kw):
        """A link through pyserial to the pump's console at `device` (/dev/ttyACM0, COM3)."""
        import serial

        try:
            port = serial.Serial(device, BAUD, timeout=READ_TIMEOUT_S)
        except (serial.SerialException, OSError) as e:
            raise LinkError("%s: cannot open (%s)" % (device, e)) from e
        return cls(port, key, name=device, **kw)

    def call(self, command, **args):
        check_call(command, args)
        if command == "status":
            return pp.decode_status(self._exchange(wire.STATUS_REQUEST + b"\n", wire.STATUS))
        opcode, payload = encode(command, args)
        resp = self._send(opcode, payload)
        stale = resp["result"] == E_REPLAY and resp["counter"] >= self.counter - 1  # the pump's is ahead of ours
        if stale or resp["result"] == E_COUNTER_AHEAD:  # or ours too far ahead of the pump's: just above it, once
            self.counter = resp["counter"] + 1
            resp = self._send(opcode, payload)
        if resp["result"]:
            raise PumpError(resp["result"], resp["detail"] or pp.result_text(resp["result"]))
        out = {"ok": True}
        out.update((k, resp[k]) for k in RESULT_KEYS if k in resp)
        return out

    def _send(self, opcode, payload):
        counter = self.counter
        self.counter += 1
        message = pp.command_message(self.key, self.role, counter, opcode, payload)
        return pp.decode_response(self._exchange(wire.request(message), wire.ANSWER))

    def _exchange(self, line, tag):
        """Write `line`, then read lines until the answer tagged `tag`; its payload (CRC checked)."""
        try:
            self.port.write(line)
        except OSError as e:
            raise LinkError("%s: write failed (%s)" % (self.name, e)) from e
        deadline = self.clock() + self.timeout_s
        while self.clock() < deadline:
            try:
                got = self.port.readline()
            except OSError as e:
                raise LinkError("%s: read failed (%s)" % (self.name, e)) from e
            text = got.rstrip(b"\r\n")
            if not text.startswith(tag.encode()):
                if text:
                    self.lines.append(text.decode("utf-8", "replace"))
                continue
            try:
                return wire.decode(text, tag)
            except ValueError as e:
                raise LinkError("%s: answer refused: %s" % (self.name, e)) from e
        raise LinkError("%s: no answer from the pump within %g s (a pump stopped at its REPL answers nothing: reset "
                        "it)" % (self.name, self.timeout_s))

    def close(self):
        self.port.close()
