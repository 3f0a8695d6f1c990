"""The secure session's rigs: a pump's and a central's session on the tests' keys (`Pair`), recorded nonces, and
the published HMAC-SHA256 vectors (RFC 4231) the session's primitives are checked against."""

from pump import session as ss
from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, ROLE_PATIENT, parse_keys
from pump.seal import OVERHEAD
from support.aes import new_ecb
from support.keys import KC, KM, KP, key_doc

PUMP_ID = bytes((0xE6, 0x61, 0x41, 0x03, 0xE7, 0x45, 0x2D, 0x2F))  # an RP2040 unique id
KEYS = {ROLE_CLINICIAN: KC, ROLE_PATIENT: KP, ROLE_MONITOR: KM}


class Nonces:
    """os.urandom stand-in: a different 16 bytes on every call, recorded."""

    def __init__(self, seed=1):
        self.seed = seed
        self.given = []

    def __call__(self, n):
        self.seed += 1
        out = bytes((self.seed * 29 + i * 7) & 0xFF for i in range(n))
        self.given.append(out)
        return out


class Pair:
    """A pump's and a central's session; `open()` runs the handshake between them."""

    def __init__(self, role=ROLE_CLINICIAN, doc=None, key=None, pump_id=PUMP_ID, expect_id=None):
        self.nonces = Nonces()
        keys = parse_keys(doc if doc is not None else key_doc())
        self.pump = ss.PumpSession(keys, pump_id, self.nonces, new_ecb)
        self.central = ss.CentralSession(key if key is not None else KEYS[role], role, new_ecb, expect_id)
        self.nonce_c = bytes(range(0xA0, 0xB0))

    def ask(self, msg):
        return self.pump.handshake(bytearray(msg), len(msg))

    def open(self):
        challenge = self.ask(self.central.hello(self.nonce_c))
        result = self.ask(self.central.confirm(challenge))
        self.central.established(result)
        return self

    def to_central(self, stream, payload):
        out = bytearray(len(payload) + OVERHEAD)
        n = self.pump.seal(stream, payload, len(payload), out)
        assert n == len(out)
        return bytes(out)

    def to_pump(self, stream, sealed):
        buf = bytearray(sealed)
        return self.pump.open(stream, buf, len(buf)), bytes(buf[: self.pump.n])


_LONG_KEY = b"\xaa" * 131
# RFC 4231 section 4: (key, data, HMAC-SHA256); case 5 is compared truncated to 128 bits, as the RFC gives it
RFC4231 = (
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (_LONG_KEY, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (_LONG_KEY, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs "
     b"to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)
