"""The wired programming path's test bench: a Wired (pump.wired) on a Rig's pump with the test keys, and the
answer line decoded."""

import struct

from pump import wire
from pump.cmdauth import CommandAuth, parse_keys
from pump.commands import RESPONSE, RESPONSE_LEN
from pump.wired import Wired
from support.keys import KEY_DOC, command
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
