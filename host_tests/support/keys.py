"""The tests' command keys (clinician, patient) as bytes and as a keys.json document, and an authenticated command:
opcode, role and counter, then the HMAC-SHA256 of them under the role's key (docs/ble.md)."""

import struct

from pump.compat import TICKS_MASK
from pump.hmac import hmac_sha256

KC = bytes(range(100, 132))  # clinician key
KP = bytes(range(200, 232))  # patient key
KEY_DOC = {"clinician": "".join("%02x" % b for b in KC), "patient": "".join("%02x" % b for b in KP)}
T0 = TICKS_MASK - 5000  # lockouts run across the ticks wrap


def command(key, role, counter, opcode, params=b""):
    body = struct.pack("<BBI", opcode, role, counter) + params
    return body + hmac_sha256(key, body)
