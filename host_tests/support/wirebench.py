"""The wired programming path's test bench: a Wired (pump.wired) on a Rig's pump with the test keys, the answer line
decoded, and a serial port onto it for the programmer's SerialLink (CPython only)."""

import struct

from pump import wire
from pump.cmdauth import CommandAuth, parse_keys
from pump.commands import RESPONSE, RESPONSE_LEN
from pump.wired import Wired
from support.keys import KC, KEY_DOC, command
from support.rig import PB, Rig, rx


class WiredBench:
    """A Wired on a Rig's pump with the keys of KEY_DOC (or none); `printed` holds the console lines it wrote."""

    def __init__(self, keys=KEY_DOC):
        self.rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
        self.printed = []
        self.changed = 0
        self.auth = CommandAuth(self.rig.storage, parse_keys(keys) if keys else None, self._log, self.rig.now,
                                self.rig.pump.alarms)
        self.wired = Wired(self.rig.pump, self.auth, None, self.rig.clock, self.printed.append, self._changed)

    def _log(self, code, a, b):
        pass

    def _changed(self):
        self.changed += 1

    def send(self, key, role, counter, opcode, params=b""):
        """(opcode, result, counter, data) of the answer to one signed command line."""
        line = wire.request(command(key, role, counter, opcode, params)).rstrip(b"\n")
        return answer(self.wired.line(line))


def answer(text):
    payload = wire.decode(text, wire.ANSWER)
    return struct.unpack_from(RESPONSE, payload) + (payload[RESPONSE_LEN:],)


class BenchPort:
    """A serial port onto a WiredBench: what the host writes is fed to the pump line by line; what the pump printed
    is read back one line at a time (status lines in between, as a console has them)."""

    def __init__(self, bench, drop_answers=0, garble=False):
        self.bench = bench
        self.lines = wire.Lines()
        self.unread = ["2026-08-03 08:00 running rate 400.0 uL/day"]
        self.drop_answers = drop_answers
        self.garble = garble
        self.t_s = 0.0
        self.closed = False

    def write(self, data):
        for byte in data:
            if self.lines.feed(byte):
                before = len(self.bench.printed)
                self.bench.wired.line(self.lines.text(), self.lines.overflow)
                for text in self.bench.printed[before:]:
                    if self.drop_answers:
                        self.drop_answers -= 1
                        continue
                    self.unread.append(text[:-3] + "xyz" if self.garble else text)

    def readline(self):
        self.t_s += 0.5  # pyserial's timeout passes when nothing comes
        return (self.unread.pop(0) + "\r\n").encode() if self.unread else b""

    def clock(self):
        return self.t_s

    def close(self):
        self.closed = True


def serial_link(bench, counter=None, **kw):
    """(SerialLink onto the bench with the clinician key, its BenchPort)."""
    from tools.pumplink.serial import SerialLink

    port = BenchPort(bench, **kw)
    return SerialLink(port, KC, counter=counter, clock=port.clock, name="bench port"), port
