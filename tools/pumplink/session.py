"""The pump's secure session on the host (CPython): the firmware's own pump.session and pump.seal with AES from the
`cryptography` package, for the programmer, the telemetry client and the tests; frames and decoders stay in
tools/pumplink/proto.py. docs/ble.md ("Secure session") describes the protocol byte by byte.

    s = Session(key, ROLE_MONITOR, pump_id=bytes.fromhex(serial_number))   # key: the role's 32 bytes (keys.json)
    handshake(s, exchange)            # exchange(msg) writes a handshake message, returns the pump's answer (bytes)
    status = decode_status(s.open(STREAM_STATUS, sealed_message))
    sealed = s.seal(STREAM_COMMAND, command_message)                       # then split into frames as usual
"""

import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, ROLE_NAMES, ROLE_PATIENT
from pump.seal import (OVERHEAD, STREAM_ALARM, STREAM_COMMAND, STREAM_HISTORY, STREAM_RACP,
                       STREAM_STATUS, TAG_LEN)
from pump.session import NONCE_LEN, SESSION_UUID, CentralSession
from tools.pumplink import proto as pumpproto

__all__ = [
    "OVERHEAD",
    "ROLE_CLINICIAN",
    "ROLE_MONITOR",
    "ROLE_PATIENT",
    "SESSION_UUID",
    "STREAM_ALARM",
    "STREAM_COMMAND",
    "STREAM_HISTORY",
    "STREAM_RACP",
    "STREAM_STATUS",
    "TAG_LEN",
    "Session",
    "ahandshake",
    "handshake",
    "new_ecb",
]


class _Ecb:
    """AES-128 ECB with cryptolib.aes's encrypt(in[, out]), on `cryptography`."""

    def __init__(self, key):
        self._enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

    def encrypt(self, inb, out=None):
        data = self._enc.update(bytes(inb))
        if out is None:
            return data
        out[: len(data)] = data
        return out


def new_ecb(key):
    """The block cipher the session's AES-128-CTR runs on (16-byte key)."""
    if len(key) != 16:
        raise ValueError("AES-128: 16-byte key")
    return _Ecb(key)


class Session(CentralSession):
    """A central's end of a session: the role's key (32 bytes), nonces from `urandom`; `pump_id` (the Serial Number
    characteristic's bytes) refuses a challenge from any other pump."""

    def __init__(self, key, role, pump_id=None, urandom=os.urandom):
        super().__init__(key, role, new_ecb, pump_id)
        self._urandom = urandom

    @classmethod
    def from_keys(cls, role_name, path=None, pump_id=None):
        """A session for `role_name` ("clinician", "patient" or "monitor") with its key from a keys file (tools.keys:
        keys.json, or the file --monitor-out writes); KeysError when the file has no such key."""
        from tools.keys import keys

        loaded = keys.load(path or keys.DEFAULT_PATH, (role_name,))
        return cls(loaded[role_name], ROLE_NAMES.index(role_name) + 1, pump_id)

    def hello(self, nonce_c=None):
        return super().hello(self._urandom(NONCE_LEN) if nonce_c is None else nonce_c)

    def seal_frames(self, stream, payload, e2e=0, frame_size=pumpproto.FRAME_SIZE):
        """The frames of one sealed message."""
        return pumpproto.split(self.seal(stream, payload), e2e, frame_size)


def handshake(session, exchange):
    """Open `session` through exchange(message) -> the pump's answer (raises PumpError when refused)."""
    challenge = exchange(session.hello())
    session.established(exchange(session.confirm(challenge)))
    return session


async def ahandshake(session, exchange):
    """handshake() over an async exchange (a BLE link)."""
    challenge = await exchange(session.hello())
    session.established(await exchange(session.confirm(challenge)))
    return session
