"""BLE command authentication: per-role HMAC-SHA256 keys (keys.json), strictly increasing per-role counters kept in
a power-fail-safe store, and commands locked out for a growing interval after repeated failures (logged).

Command message: opcode u8, role u8, counter u32 (little-endian), parameters, then the 32-byte HMAC-SHA256 under the
role's key of everything before it. A command is accepted when its MAC checks, its role may send the opcode and its
counter is above the last one accepted for that role, by at most MAX_COUNTER_STEP (so no single frame can use up the
u32 range); the new counter is saved before the command runs, so a replayed, reordered or power-cut-and-resent command
is refused. Keys come only from the board's file system.
keys.json may also hold the read-only monitor role's key: it opens secure sessions (pump.session), never commands.

Counter record (store `cmdauth`, version 2, 18 bytes "<IIBB8s"): clinician counter, patient counter, lockout level,
flags (bit 0: counters lost), and the fingerprint of the keys (8 bytes of an HMAC of a fixed text under each key:
never the keys). Version 1 (9 bytes "<IIB", no fingerprint) is read and carried over. Counters that are lost (a slot
unreadable for any reason but a power cut, a record format this firmware does not know, a storage failure) could be
behind the last ones accepted and let recorded commands replay: instead the loss is saved as "lost under keys F" and
every command is refused with E_COUNTERS_LOST (an alarm sounds, pump.alarms.A_COMMAND_COUNTERS_LOST) while the keys
are still F; once keys.json holds other keys (provisioned over USB), the counters start afresh: nothing recorded
under the old keys verifies under the new ones.
"""

import binascii
import struct

from pump import events as ev
from pump.alarms import A_COMMAND_COUNTERS_LOST
from pump.compat import const, ticks_add, ticks_diff
from pump.errors import (E_AUTH, E_AUTH_LOCKOUT, E_CORRUPT, E_COUNTER_AHEAD, E_COUNTERS_LOST, E_MALFORMED, E_NO_KEYS,
                         E_OPCODE, E_REPLAY, E_ROLE, E_STORAGE, PumpError)
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
MAX_COUNTER_STEP = const(0x10000)  # a command's counter is at most this far above the last one accepted
_STATE = "<IIBB8s"  # clinician counter, patient counter, lockout level, flags, fingerprint of the keys
_STATE_LEN = const(18)
_STATE_V1 = "<IIB"  # version 1: clinician counter, patient counter, lockout level
_STATE_V1_LEN = const(9)
_LOST = const(1)  # flags: the counters were lost while the keys had this fingerprint
_NO_KEYS = bytes(8)
_FINGERPRINT_TEXT = b"pump command keys fingerprint"


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


def fingerprint(keys):
    """8 bytes that change whenever either key changes and tell nothing about them; `_NO_KEYS` without keys."""
    if not keys:
        return _NO_KEYS
    return keys[ROLE_CLINICIAN].digest(_FINGERPRINT_TEXT, keys[ROLE_PATIENT].digest(_FINGERPRINT_TEXT))[:8]


def _parse_state(payload, version):
    """(clinician counter, patient counter, lockout level, flags, fingerprint) of a counter record; E_CORRUPT when
    it is malformed or its level is out of range (the store then tries the other slot)."""
    if version == 1 and len(payload) == _STATE_V1_LEN:
        c1, c2, level = struct.unpack(_STATE_V1, payload)
        flags, fp = 0, None  # carried over from version 1: no fingerprint recorded
    elif version == 2 and len(payload) == _STATE_LEN:
        c1, c2, level, flags, fp = struct.unpack(_STATE, payload)
    else:
        raise PumpError(E_CORRUPT, "cmdauth: length")
    if level > MAX_LEVEL or flags & ~_LOST:
        raise PumpError(E_CORRUPT, "cmdauth: level or flags")
    return c1, c2, level, flags, fp


def load_keys(path):
    """parse_keys of the JSON file at `path`; None when there is no such file."""
    doc = read_json(path, "keys")
    return None if doc is None else parse_keys(doc)


class CommandAuth:
    """Checks command messages; `log(event, a, b)` records lockouts and store faults; `alarms` (pump.alarms.Alarms,
    optional) gets COMMAND_COUNTERS_LOST while the counters are lost. After a verify(): `role` and `counter` as read;
    `lost`: commands refused until new keys."""

    def __init__(self, storage, keys, log, now, alarms=None):
        self.keys = keys  # {role: Hmac}, or None: every command refused with E_NO_KEYS
        self._fp = fingerprint(keys)
        self._log = log
        self._store = Store(storage, "cmdauth", 2, _STATE_LEN, older=(1,))
        self.counters = [0, 0, 0]  # last accepted counter per role (index 0 unused)
        self.level = 0
        self.failures = 0
        self._until = None  # ticks at which the lockout ends
        self.role = 0
        self.counter = 0
        self.lost = False
        self._restore()
        if self.level:  # a reset does not end a lockout: it starts again in full
            self._until = ticks_add(now, self._lock_ms())
        if self.lost and alarms is not None:  # a condition for as long as this boot lasts: new keys need a reset
            alarms.set_condition(A_COMMAND_COUNTERS_LOST, True, now)

    def _restore(self):
        """The counters, unless they may be behind the last ones accepted: a slot no power cut explains (bit rot,
        a value out of range, a record format this firmware does not read) may have held newer ones. A torn slot
        is a save cut by a power failure: its command never ran, so the other slot's counters are the right ones."""
        store = self._store
        try:
            rec = store.load(_parse_state)
            failed, doubt = store.failed_slots, store.rotten_slots
        except PumpError:  # the storage failed: what it holds is not known, so neither are the counters
            rec, failed, doubt = None, 1, 1
        if failed:
            self._log(ev.STORE_CORRUPT, failed, ev.STORE_CMDAUTH)
        if doubt:
            self._lose()
            return
        if rec is None:
            return  # none at all (or only a torn first save): no command was ever accepted on this pump
        c1, c2, level, flags, fp = rec
        if flags & _LOST:
            if self.keys is None or fp == self._fp:
                self.lost = True  # the keys are still those the counters were lost under
            return  # new keys: fresh counters (saved with the first command accepted)
        self.counters[1], self.counters[2], self.level = c1, c2, level

    def _lose(self):
        """Refuse every command until the keys change; saved, so a reset does not forget it. Without keys it is
        not saved: the keys of a later boot are then the ones it is judged by (never a blank that any key ends)."""
        self.lost = True
        if self.keys is not None:
            try:  # into both slots: no slot left in doubt to count against the new keys at a later boot
                record = struct.pack(_STATE, 0, 0, 0, _LOST, self._fp)
                self._store.save(record)
                self._store.save(record)
            except PumpError:
                pass  # refused in memory all the same; the next boot finds the loss again

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
        if self.lost:
            return E_COUNTERS_LOST
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
        if counter - self.counters[role] > MAX_COUNTER_STEP:  # one frame must not use up the counter's range
            return self._fail(E_COUNTER_AHEAD, now)
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
        self._store.save(struct.pack(_STATE, self.counters[1], self.counters[2], self.level, 0, self._fp))
