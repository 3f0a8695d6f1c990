"""The tests' role keys (clinician, patient, monitor) as bytes and as a keys.json document, an authenticated command
(opcode, role and counter, then the HMAC-SHA256 of them under the role's key: docs/ble.md), and `Auth`: the pump's
command authentication on fake flash."""

import struct

from pump import alarms
from pump.cmdauth import CommandAuth, parse_keys
from pump.commands import roles_for
from pump.compat import TICKS_MASK, ticks_add
from pump.hmac import hmac_sha256
from support.flash import FakeStorage

KC = bytes(range(100, 132))  # clinician key
KP = bytes(range(200, 232))  # patient key
KM = bytes(range(50, 82))  # the monitor's key (read-only: sessions, never commands)
KEY_DOC = {"clinician": "".join("%02x" % b for b in KC), "patient": "".join("%02x" % b for b in KP)}
T0 = TICKS_MASK - 5000  # lockouts run across the ticks wrap


def command(key, role, counter, opcode, params=b""):
    body = struct.pack("<BBI", opcode, role, counter) + params
    return body + hmac_sha256(key, body)


def key_doc(monitor=True):
    """KEY_DOC, with the monitor's key unless `monitor` is False (keys files from before the monitor role)."""
    doc = dict(KEY_DOC)
    if monitor:
        doc["monitor"] = "".join("%02x" % b for b in KM)
    return doc


class Auth:
    """A CommandAuth on fake flash with its log calls and alarms recorded; `boot()` is a reset."""

    def __init__(self, keys=KEY_DOC, storage=None):
        self.storage = storage if storage is not None else FakeStorage()
        self.keys = parse_keys(keys) if keys is not None else None
        self.logged = []
        self.now = T0
        self.boot()

    def boot(self, keys=None):
        if keys is not None:
            self.keys = parse_keys(keys)
        self.alarms = alarms.Alarms()
        self.auth = CommandAuth(self.storage, self.keys, self._log, self.now, self.alarms)
        return self.auth

    def _log(self, code, a, b):
        self.logged.append((code, a, b))

    def verify(self, msg, dt_ms=0):
        self.now = ticks_add(self.now, dt_ms)
        return self.auth.verify(bytearray(msg), len(msg), self.now, roles_for)
