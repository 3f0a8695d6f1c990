"""Secure session between the pump and a central, above the BLE link (a stock Pico W's BTstack has no pairing, so no
link encryption): a handshake on a role's pre-shared key with fresh nonces from both ends and mutual proof of the
key, session keys per direction from HKDF-SHA256, then sealed messages (pump.seal). Both ends live here, so the
pump, the host tools and the tests run one implementation. docs/ble.md ("Secure session") gives the byte layouts.

    HELLO      central -> pump  type 1, version 1, role u8, nonce_c[16]
    CHALLENGE  pump -> central  type 2, version 1, role u8, nonce_p[16], id_len u8, pump_id[id_len], pump_proof[16]
    CONFIRM    central -> pump  type 3, central_proof[16]
    RESULT     pump -> central  type 4, result u16 (0: session open, else a pump.errors code)

    PRK = HMAC-SHA256(role key, "pump-session-v1" || nonce_c || nonce_p)      (HKDF-Extract, salt = the role key)
    OKM = HKDF-Expand(PRK, info = role u8 || pump_id, 128 bytes) = c2p enc[16] | c2p mac[32] | p2c enc[16]
          | p2c mac[32] | central_proof[16] | pump_proof[16]
"""

from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, ROLE_PATIENT
from pump.compat import const
from pump.errors import E_AUTH, E_INSECURE, E_MALFORMED, E_NO_KEYS, E_ROLE, E_STATE, PumpError
from pump.hmac import Hmac, equal, equal_at, hkdf_expand
from pump.seal import OVERHEAD, STREAM_COMMAND, Channel

# the Session characteristic (write, indicate) that carries the handshake in frames, next to the pump service's
SESSION_UUID = "7b0d0008-b4cc-4e13-8bcc-33c19f4e4a2a"
HELLO = const(1)
CHALLENGE = const(2)
CONFIRM = const(3)
RESULT = const(4)
VERSION = const(1)
NONCE_LEN = const(16)
PROOF_LEN = const(16)
MAX_ID = const(16)  # pump id bytes (the board's unique id: 8 on the RP2040, 6 on the ESP32)
HELLO_LEN = const(19)
CONFIRM_LEN = const(17)
RESULT_LEN = const(3)
LABEL = b"pump-session-v1"
ROLES = (ROLE_CLINICIAN, ROLE_PATIENT, ROLE_MONITOR)
# the output keying material, in order: (offset, length) of each part
OKM_LEN = const(128)
C2P_ENC = const(0)
C2P_MAC = const(16)
P2C_ENC = const(48)
P2C_MAC = const(64)
CENTRAL_PROOF = const(96)
PUMP_PROOF = const(112)
IDLE = const(0)
CHALLENGED = const(1)  # pump: a CHALLENGE went out, one CONFIRM may follow; central: waiting for the RESULT
OPEN = const(2)


def derive(key, role, nonce_c, nonce_p, pump_id):
    """The session's 128 bytes of keying material; `key` is the role key's pump.hmac.Hmac."""
    return hkdf_expand(key.digest(LABEL, nonce_c, nonce_p), bytes((role,)) + pump_id, OKM_LEN)


def _channel(okm, enc, new_ecb):
    return Channel(okm[enc : enc + 16], okm[enc + 16 : enc + 48], new_ecb)


def result(code):
    """A RESULT message."""
    return bytes((RESULT, code & 0xFF, code >> 8))


class PumpSession:
    """The pump's end. `keys`: {role: Hmac} from pump.cmdauth.parse_keys (None: no keys, every HELLO refused);
    `pump_id`: the board's unique id (bytes); `urandom(n)`: the pump's nonces; `new_ecb(key16)`: the block cipher.
    Every method refuses with a code and leaves the session as it was, except where its docstring says otherwise."""

    def __init__(self, keys, pump_id, urandom, new_ecb):
        if not 0 < len(pump_id) <= MAX_ID:
            raise ValueError("pump id: 1 to %d bytes" % MAX_ID)
        self._keys = keys
        self.pump_id = bytes(pump_id)
        self._urandom = urandom
        self._new_ecb = new_ecb
        self.n = 0  # payload length of the last message opened
        self.close()

    def close(self):
        """End the session (a disconnect): its keys are dropped, nothing sealed or opened until a new handshake."""
        self.state = IDLE
        self.role = 0
        self.tx = None
        self.rx = None
        self._pending = None

    def handshake(self, msg, n):
        """The reply (bytes: CHALLENGE or RESULT) to the handshake message msg[:n]. A valid HELLO ends the session
        before it; a CONFIRM, right or wrong, ends the handshake it answers (one try per pump nonce)."""
        kind = msg[0] if n else 0
        if kind == HELLO:
            return self._hello(msg, n)
        if kind == CONFIRM:
            return self._confirm(msg, n)
        return result(E_MALFORMED)

    def _hello(self, msg, n):
        if n != HELLO_LEN or msg[1] != VERSION or msg[2] not in ROLES:
            return result(E_MALFORMED)
        role = msg[2]
        key = self._keys.get(role) if self._keys else None
        if key is None:
            return result(E_NO_KEYS)
        nonce_p = bytes(self._urandom(NONCE_LEN))
        self.close()
        okm = derive(key, role, bytes(msg[3:HELLO_LEN]), nonce_p, self.pump_id)
        self._pending = (role, okm)
        self.state = CHALLENGED
        pid = self.pump_id
        return bytes((CHALLENGE, VERSION, role)) + nonce_p + bytes((len(pid),)) + pid + okm[PUMP_PROOF:]

    def _confirm(self, msg, n):
        pending = self._pending
        if pending is None:  # no handshake running (the pump is idle or the session open)
            return result(E_STATE)
        role, okm = pending
        self._pending = None
        self.state = IDLE
        if n != CONFIRM_LEN or not equal_at(msg, 1, okm, CENTRAL_PROOF, PROOF_LEN):
            return result(E_AUTH)
        self.rx = _channel(okm, C2P_ENC, self._new_ecb)
        self.tx = _channel(okm, P2C_ENC, self._new_ecb)
        self.role = role
        self.state = OPEN
        return result(0)

    def seal(self, stream, src, n, out):
        """Seal src[:n] on `stream` into out (pump.seal.Channel.seal); 0 without an open session."""
        tx = self.tx
        if tx is None:
            return 0
        return tx.seal(stream, src, n, out)

    def open(self, stream, msg, n):
        """Open the sealed message msg[:n] from the central (pump.seal.Channel.open): 0 and the payload in msg[:self.n],
        or a code; E_INSECURE without an open session."""
        rx = self.rx
        if rx is None:
            return E_INSECURE
        code = rx.open(stream, msg, n)
        if not code:
            self.n = rx.n
        return code

    def open_command(self, msg, n):
        """Open a sealed command (the command point's stream): 0 and the command message of pump.cmdauth in
        msg[:self.n], or a code. The command's own role must be the session's, and a monitor session commands
        nothing (E_ROLE); the command's MAC and counter are checked after this, by pump.cmdauth."""
        if self.state == OPEN and self.role == ROLE_MONITOR:
            return E_ROLE
        code = self.open(STREAM_COMMAND, msg, n)
        if code:
            return code
        if self.n < 2 or msg[1] != self.role:
            return E_ROLE
        return 0


class CentralSession:
    """The central's end (host tools, tests): bytes in, bytes out, refusals raised as PumpError. `key`: the role's
    32 bytes; `pump_id`: when given, a CHALLENGE from any other pump is refused."""

    def __init__(self, key, role, new_ecb, pump_id=None):
        if role not in ROLES:
            raise ValueError("role: 1 clinician, 2 patient or 3 monitor")
        self._key = Hmac(key)
        self.role = role
        self._new_ecb = new_ecb
        self._expect = None if pump_id is None else bytes(pump_id)
        self._reset()

    def _reset(self):
        self.state = IDLE
        self.pump_id = None
        self.tx = None
        self.rx = None
        self._nonce = None
        self._okm = None

    def hello(self, nonce_c):
        """The HELLO starting a handshake (and ending any session before it); nonce_c: 16 fresh random bytes."""
        if len(nonce_c) != NONCE_LEN:
            raise ValueError("nonce: %d bytes" % NONCE_LEN)
        self._reset()
        self._nonce = bytes(nonce_c)
        return bytes((HELLO, VERSION, self.role)) + self._nonce

    def confirm(self, msg):
        """The CONFIRM answering the pump's CHALLENGE, once its proof checks; PumpError otherwise (the pump's code
        when it answered the HELLO with a RESULT)."""
        msg = bytes(msg)
        if self._nonce is None or self.state != IDLE:
            raise PumpError(E_STATE, "no HELLO sent")
        _refused(msg)
        m = msg[19] if len(msg) > 19 else 0
        if (len(msg) != 36 + m or msg[0] != CHALLENGE or msg[1] != VERSION or msg[2] != self.role
                or not 0 < m <= MAX_ID):
            raise PumpError(E_MALFORMED, "challenge")
        pump_id = msg[20 : 20 + m]
        if self._expect is not None and pump_id != self._expect:
            raise PumpError(E_AUTH, "challenge from another pump")
        okm = derive(self._key, self.role, self._nonce, msg[3:19], pump_id)
        if not equal(okm[PUMP_PROOF:], msg[20 + m :]):
            raise PumpError(E_AUTH, "pump proof")
        self._okm = okm
        self.pump_id = pump_id
        self.state = CHALLENGED
        return bytes((CONFIRM,)) + okm[CENTRAL_PROOF:PUMP_PROOF]

    def established(self, msg):
        """Take the pump's RESULT: the session is open, or PumpError with the pump's code."""
        msg = bytes(msg)
        if self.state != CHALLENGED:
            raise PumpError(E_STATE, "no CONFIRM sent")
        _refused(msg)
        if len(msg) != RESULT_LEN or msg[0] != RESULT:
            raise PumpError(E_MALFORMED, "result")
        self.tx = _channel(self._okm, C2P_ENC, self._new_ecb)
        self.rx = _channel(self._okm, P2C_ENC, self._new_ecb)
        self.state = OPEN

    def seal(self, stream, payload):
        """The sealed message carrying `payload` on `stream`."""
        tx = self.tx
        if tx is None:
            raise PumpError(E_INSECURE, "no session")
        out = bytearray(len(payload) + OVERHEAD)
        n = tx.seal(stream, bytes(payload), len(payload), out)
        if not n:
            raise PumpError(E_INSECURE, "counter used up: start a new session")
        return bytes(out)

    def open(self, stream, msg):
        """The payload of a sealed message from the pump on `stream`; PumpError with the refusal's code."""
        rx = self.rx
        if rx is None:
            raise PumpError(E_INSECURE, "no session")
        buf = bytearray(msg)
        code = rx.open(stream, buf, len(buf))
        if code:
            raise PumpError(code, "sealed message")
        return bytes(buf[: rx.n])


def _refused(msg):
    """Raise the pump's code when msg is a RESULT refusing the handshake."""
    if len(msg) == RESULT_LEN and msg[0] == RESULT:
        code = msg[1] | msg[2] << 8
        if code:
            raise PumpError(code, "refused by the pump")
