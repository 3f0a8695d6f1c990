"""BLE command authentication: per-role HMAC-SHA256 keys (keys.json), strictly increasing per-role counters kept in
a power-fail-safe store, and commands locked out for a growing interval after repeated failures (logged).

Command message: opcode u8, role u8, counter u32 (little-endian), parameters, then the 32-byte HMAC-SHA256 under the
role's key of everything before it. A command is accepted when its MAC checks, its role may send the opcode and its
counter is above the last one accepted for that role; the new counter is saved before the command runs, so a
replayed, reordered or power-cut-and-resent command is refused. Keys come only from the board's file system.
keys.json may also hold the read-only monitor role's key: it opens secure sessions (pump.session), never commands.
"""

import binascii
import struct

from pump import events as ev
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import (E_AUTH, E_AUTH_LOCKOUT, E_MALFORMED, E_NO_KEYS, E_OPCODE, E_REPLAY, E_ROLE, E_STORAGE,
                         PumpError)
from pump.hmac import Hmac, equal
from pump.jsonfile import read_json
from pump.store import Store

ROLE_CLINICIAN = const(1)
ROLE_PATIENT = const(2)
ROLE_MONITOR = const(3)  # telemetry and history only: no command accepts it
ROLE_NAMES = ("clinician", "patient", "monitor")  # keys.json names of roles 1, 2, 3
_OPTIONAL = ("monitor",)  # keys files from before the monitor role stay valid
HEAD = "<BBI"  # opcode, role, counter
HEAD_LEN = const(6)
TAG_LEN = const(32)
MAX_FAILURES = const(5)  # consecutive failures that start a lockout
LOCKOUT_S = const(30)  # lockout level k lasts LOCKOUT_S * 2**(k-1) s
MAX_LEVEL = const(8)  # 64 min
_STATE = "<IIB"  # clinician counter, patient counter, lockout level


def parse_keys(doc):
    """{role: Hmac} from a keys.json document {"clinician": 64 hex, "patient": 64 hex[, "monitor": 64 hex]};
    PumpError(E_MALFORMED) naming the field (never a key's value) when a key is missing, unknown or malformed, or two
    are equal."""
    if type(doc) is not dict:
        raise PumpError(E_MALFORMED, "keys: must be an object")
    for name in doc:
        if name not in ROLE_NAMES:
            raise PumpError(E_MALFORMED, "keys.%s: unknown" % name)
    keys = {}
    raw = {}
    for role, name in enumerate(ROLE_NAMES, 1):
        v = doc.get(name)
        if v is None and name in _OPTIONAL:
            continue
        try:
            key = binascii.unhexlify(v) if type(v) is str and len(v) == 64 else b""
        except ValueError:
            key = b""
        if len(key) != 32:
            raise PumpError(E_MALFORMED, "keys.%s: must be 64 hex digits" % name)
        for other, known in raw.items():
            if known == key:
                raise PumpError(E_MALFORMED, "keys: %s and %s keys must differ" % (ROLE_NAMES[other - 1], name))
        raw[role] = key
        keys[role] = Hmac(key)
    return keys


def load_keys(path):
    """parse_keys of the JSON file at `path`; None when there is no such file."""
    doc = read_json(path, "keys")
    return None if doc is None else parse_keys(doc)


class CommandAuth:
    """Checks command messages; `log(event, a, b)` records lockouts. After a verify(): `role` and `counter` as read."""

    def __init__(self, storage, keys, log, now):
        self.keys = keys  # {role: Hmac}, or None: every command refused with E_NO_KEYS
        self._log = log
        self._store = Store(storage, "cmdauth", max_payload=9)
        self.counters = [0, 0, 0]  # last accepted counter per role (index 0 unused)
        self.level = 0
        self.failures = 0
        self._until = None  # ticks at which the lockout ends
        self.role = 0
        self.counter = 0
        try:
            raw = self._store.load()
        except PumpError:
            raw = None
        if raw is not None and len(raw) == 9:
            self.counters[1], self.counters[2], self.level = struct.unpack(_STATE, raw)
        if self.level:  # a reset does not end a lockout: it starts again in full
            self._until = ticks_add(now, self._lock_ms())

    def locked_s(self, now):
        """Seconds of lockout left at ticks `now` (0: commands accepted)."""
        if self._until is None:
            return 0
        left = ticks_diff(self._until, now)
        if left <= 0 or left > self._lock_ms():  # more than a whole lockout left: ticks wrapped since it ended
            self._until = None
            return 0
        return (left + 999) // 1000

    def verify(self, msg, n, now, roles_for):
        """0 when msg[:n] is an authentic fresh command its role may send (its counter is then saved), else the code
        refusing it. `roles_for(opcode)` is the bitmask (bit r for role r) of the roles allowed, None if unknown."""
        self.role = msg[1] if n > 1 else 0
        self.counter = 0
        if self.locked_s(now):
            return E_AUTH_LOCKOUT
        if self.keys is None:
            return E_NO_KEYS
        if n < HEAD_LEN + TAG_LEN:
            return E_MALFORMED
        opcode, role, counter = struct.unpack_from(HEAD, msg, 0)
        self.counter = counter
        key = self.keys.get(role) if role != ROLE_MONITOR else None
        mv = memoryview(msg)
        if key is None or not equal(key.digest(mv[: n - TAG_LEN]), mv[n - TAG_LEN : n]):
            return self._fail(E_AUTH, now)
        allowed = roles_for(opcode)
        if allowed is None:
            return E_OPCODE
        if not allowed & (1 << role):
            return self._fail(E_ROLE, now)
        if counter <= self.counters[role]:
            return self._fail(E_REPLAY, now)
        old, old_level = self.counters[role], self.level
        self.counters[role] = counter
        self.level = 0
        try:
            self._save()
        except PumpError:
            self.counters[role], self.level = old, old_level
            return E_STORAGE
        self.failures = 0
        return 0

    def last_counter(self, role):
        """The last counter accepted for `role` (0 for an unknown role): lets a client resynchronise."""
        return self.counters[role] if 0 < role < 3 else 0

    def _fail(self, code, now):
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.failures = 0
            if self.level < MAX_LEVEL:
                self.level += 1
            ms = self._lock_ms()
            self._until = ticks_add(now, ms)
            try:
                self._save()
            except PumpError:
                pass  # the lockout holds in memory all the same
            self._log(ev.AUTH_LOCKOUT, ms // 1000, self.level)
        return code

    def _lock_ms(self):
        return (LOCKOUT_S * 1000) << (self.level - 1)

    def _save(self):
        self._store.save(struct.pack(_STATE, self.counters[1], self.counters[2], self.level))
