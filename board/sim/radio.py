"""Simulated board, the radio: a recording fake of MicroPython's `bluetooth` module and BLE object, for the BLE
service on CPython and on the MicroPython ports. It records registrations, values, advertising, notifications,
indications and pairing calls, and lets a test inject what the stack would report (connect, write, read, encryption
update, MTU, indication done, disconnect). Use the module itself as the `bluetooth` module:

    from board.sim import radio as bluetooth
    ble = bluetooth.BLE()
    service = PumpService(ble, bluetooth, ...)
    ble.connect(); ble.encrypt(authenticated=True); ble.write(handle, frame)

With `record = False` nothing is copied or appended (only counted): allocation-free calls for heap_lock tests.

`BLE(profile)` takes the stack profile of a board's stock MicroPython (PROFILES; default: the environment's
PUMP_BLE_STACK, else "esp32-nimble"): "esp32-nimble" pairs and bonds; "rp2-btstack" is MicroPython's BTstack binding
built without MICROPY_PY_BLUETOOTH_ENABLE_PAIRING_BONDING, as every stock Pico W is: config(bond=, mitm=,
le_secure=, io=) raises ValueError("unknown config param"), the BLE object has no gap_pair or gap_passkey, and no
encryption, passkey or secret event ever arrives (encrypt() refuses to fake one).
"""

try:
    from os import getenv as _getenv
except ImportError:  # MicroPython: no environment
    _getenv = None

# the module's flag and event numbers, as MicroPython's `bluetooth` has them
from board.sim.bleconst import *  # noqa: F403
from board.sim.bleconst import (  # the ones the fake itself uses
    FLAG_INDICATE,
    FLAG_NOTIFY,
    IRQ_CENTRAL_CONNECT,
    IRQ_CENTRAL_DISCONNECT,
    IRQ_CONNECTION_UPDATE,
    IRQ_ENCRYPTION_UPDATE,
    IRQ_GATTS_INDICATE_DONE,
    IRQ_GATTS_READ_REQUEST,
    IRQ_GATTS_WRITE,
    IRQ_MTU_EXCHANGED,
)

NIMBLE = "esp32-nimble"
BTSTACK = "rp2-btstack"
PROFILES = (NIMBLE, BTSTACK)
PAIRING_PARAMS = ("bond", "mitm", "le_secure", "io")  # what BTstack's binding refuses without pairing
CONN = 64  # the connection handle the fake gives a central by default
DEFAULT_BUFFER = 20
_HEX = "0123456789abcdef"


class UUID:
    """16/32-bit ints, 128-bit strings (with or without dashes) or 2/4/16-byte little-endian buffers."""

    def __init__(self, value):
        if isinstance(value, UUID):
            value = value.value
        elif isinstance(value, str):
            digits = value.replace("-", "").lower()
            if len(digits) not in (4, 8, 32) or any(c not in _HEX for c in digits):
                raise ValueError("invalid UUID")
            value = int(digits, 16) if len(digits) < 32 else digits
        elif not isinstance(value, int):
            raw = bytes(reversed(bytes(value)))
            if len(raw) not in (2, 4, 16):
                raise ValueError("invalid UUID")
            value = int.from_bytes(raw, "big") if len(raw) < 16 else "".join("%02x" % b for b in raw)
        self.value = value

    def __eq__(self, other):
        return isinstance(other, UUID) and self.value == other.value

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return "UUID(%r)" % (self.value,)


def profile_from_env():
    """The stack profile PUMP_BLE_STACK names (default esp32-nimble); ValueError naming the variable otherwise."""
    name = (_getenv("PUMP_BLE_STACK") if _getenv is not None else None) or NIMBLE
    if name not in PROFILES:
        raise ValueError("PUMP_BLE_STACK: %r is not a stack profile (one of %s)" % (name, ", ".join(PROFILES)))
    return name


class BLE:
    """The fake radio of a stack profile (PROFILES; None: profile_from_env()); `handler` is the service's IRQ
    handler."""

    def __init__(self, profile=None):
        profile = profile or profile_from_env()
        if profile not in PROFILES:
            raise ValueError("profile: %r is not a stack profile (one of %s)" % (profile, ", ".join(PROFILES)))
        self.profile = profile
        self.pairing = profile == NIMBLE
        self.is_active = False
        self.handler = None
        self.config_values = {}
        self.services = None
        self.values = {}  # value handle -> bytes (the local value)
        self.limits = {}  # value handle -> (buffer length, append)
        self.uuids = {}  # value handle -> UUID of the characteristic or descriptor
        self.flags = {}  # value handle -> flags
        self.adverts = []  # (interval_us, adv_data, resp_data, connectable)
        self.notified = []  # (conn, handle, bytes)
        self.indicated = []  # (conn, handle, bytes)
        self.disconnects = []
        self.pair_requests = []
        self.passkeys = []  # (conn, action, passkey)
        self.record = True
        self.notifies = 0
        self.indications = 0
        self.notify_error = None  # an OSError errno gatts_notify raises (a full buffer), None: it succeeds
        self._next_handle = 1
        self._last_indicated = 0

    # ---- MicroPython's API ----
    def active(self, active=None):
        if active is not None:
            self.is_active = bool(active)
        return self.is_active

    def config(self, *names, **values):
        if names:
            if not self.pairing and names[0] in PAIRING_PARAMS:
                raise ValueError("unknown config param")
            return self.config_values[names[0]]
        if not self.pairing:
            for name in values:
                if name in PAIRING_PARAMS:
                    raise ValueError("unknown config param")
        self.config_values.update(values)
        return None

    def irq(self, handler):
        self.handler = handler

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self._need_active()
        self.adverts.append((interval_us, None if adv_data is None else bytes(adv_data),
                             None if resp_data is None else bytes(resp_data), connectable))

    def gatts_register_services(self, services):
        self._need_active()
        self.services = services
        self.values = {}
        out = []
        for service_uuid, characteristics in services:
            if not isinstance(service_uuid, UUID):
                raise TypeError("UUID expected")
            self._next_handle += 1  # the service declaration
            handles = []
            for c in characteristics:
                self._next_handle += 1  # the characteristic declaration
                handles.append(self._value(c[0], c[1]))
                if c[1] & (FLAG_NOTIFY | FLAG_INDICATE):
                    self._next_handle += 1  # the stack's CCCD (no handle returned)
                for d in c[2] if len(c) > 2 else ():
                    handles.append(self._value(d[0], d[1]))
            out.append(tuple(handles))
        return out

    def gatts_read(self, handle):
        data = self.values[handle]
        if self.limits.get(handle, (0, False))[1]:
            self.values[handle] = b""
        return data

    def gatts_write(self, handle, data, send_update=False):
        self._known(handle)
        self.values[handle] = bytes(data) if self.record else data
        if send_update:
            raise NotImplementedError("send_update")

    def gatts_notify(self, conn, handle, data=None):
        self._known(handle)
        if self.notify_error is not None:
            raise OSError(self.notify_error)
        self.notifies += 1
        if self.record:
            self.notified.append((conn, handle, bytes(self.values[handle] if data is None else data)))

    def gatts_indicate(self, conn, handle, data=None):
        self._known(handle)
        self.indications += 1
        self._last_indicated = handle
        if self.record:
            self.indicated.append((conn, handle, bytes(self.values[handle] if data is None else data)))

    def gatts_set_buffer(self, handle, length, append=False):
        self._known(handle)
        self.limits[handle] = (length, bool(append))

    def gap_disconnect(self, conn):
        self.disconnects.append(conn)
        return True

    def gap_pair(self, conn):
        self._need_pairing()
        self.pair_requests.append(conn)

    def gap_passkey(self, conn, action, passkey):
        self._need_pairing()
        self.passkeys.append((conn, action, passkey))

    def _need_pairing(self):
        if not self.pairing:  # BTstack's binding has no such method: as calling one that is not there
            raise AttributeError("'BLE' object has no attribute (BTstack built without pairing)")

    # ---- the stack's side, for tests ----
    def event(self, event, data):
        """Deliver one IRQ event to the handler; returns what it returned."""
        handler = self.handler
        if handler is None:
            raise RuntimeError("no IRQ handler: irq() was never called")
        return handler(event, data)

    def connect(self, conn=CONN, addr=b"\x01\x02\x03\x04\x05\x06"):
        return self.event(IRQ_CENTRAL_CONNECT, (conn, 0, memoryview(addr)))

    def disconnect(self, conn=CONN, addr=b"\x01\x02\x03\x04\x05\x06"):
        return self.event(IRQ_CENTRAL_DISCONNECT, (conn, 0, memoryview(addr)))

    def encrypt(self, conn=CONN, authenticated=True, bonded=True, encrypted=True, key_size=16):
        if not self.pairing:
            raise RuntimeError("rp2-btstack: the stack never reports encryption")
        return self.event(IRQ_ENCRYPTION_UPDATE, (conn, encrypted, authenticated, bonded, key_size))

    def exchange_mtu(self, mtu, conn=CONN):
        return self.event(IRQ_MTU_EXCHANGED, (conn, mtu))

    def update_connection(self, interval_units, conn=CONN):
        return self.event(IRQ_CONNECTION_UPDATE, (conn, interval_units, 0, 400, 0))

    def write(self, handle, data, conn=CONN):
        """A client's write: the value is set (truncated to the buffer, or appended) and the IRQ raised."""
        limit, append = self.limits.get(handle, (DEFAULT_BUFFER, False))
        old = self.values.get(handle, b"") if append else b""
        self.values[handle] = (old + bytes(data))[:limit]
        return self.event(IRQ_GATTS_WRITE, (conn, handle))

    def read(self, handle, conn=CONN):
        """A client's read: (ATT status, value); the handler may refuse it with a non-zero status."""
        status = self.event(IRQ_GATTS_READ_REQUEST, (conn, handle)) or 0
        return status, (b"" if status else self.values.get(handle, b""))

    def indicate_done(self, status=0, conn=CONN):
        return self.event(IRQ_GATTS_INDICATE_DONE, (conn, self._last_indicated, status))

    def exchange(self, handle, msg, run, conn=CONN):
        """A central's request and answer on one write + indicate characteristic: `msg` written in frames, `run()`
        (the service's BLE task) until the answer's last frame is indicated (each confirmed); the answer (bytes)."""
        from pump.frames import DONE, Reassembler, split

        record, self.record = self.record, True
        try:
            for frame in split(msg, 1):
                self.write(handle, frame, conn)
            r = Reassembler(256)
            seen = len(self.indicated)
            for _ in range(50):
                run()
                new = [data for _c, h, data in self.indicated[seen:] if h == handle]
                seen = len(self.indicated)
                self.indicate_done(conn=conn)
                for frame in new:
                    if r.feed(frame) == DONE:
                        return bytes(r.buf[: r.n])
            raise RuntimeError("no answer on handle %d" % handle)
        finally:
            self.record = record

    def handle(self, uuid, nth=0):
        """Value handle of the nth characteristic or descriptor with this UUID."""
        uuid = UUID(uuid)
        found = [h for h in sorted(self.uuids) if self.uuids[h] == uuid]
        return found[nth]

    def of(self, handle, kind="notified"):
        """What was notified (or indicated) on one handle, in order."""
        return [data for _conn, h, data in getattr(self, kind) if h == handle]

    # ---- internals ----
    def _value(self, uuid, flags):
        if not isinstance(uuid, UUID):
            raise TypeError("UUID expected")
        h = self._next_handle
        self._next_handle += 1
        self.uuids[h] = uuid
        self.flags[h] = flags
        self.values[h] = b""
        return h

    def _known(self, handle):
        if handle not in self.values:
            raise OSError(22)  # EINVAL: no such value handle

    def _need_active(self):
        if not self.is_active:
            raise OSError(19)  # ENODEV

