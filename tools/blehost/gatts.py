"""The shim's GATT server: MicroPython service definitions as Bumble attributes, local values, remote access checks.

Values live here as on the boards (default buffer 20 bytes, a local write grows it, `gatts_set_buffer` sets it and
its append mode). Every remote read raises `_IRQ_GATTS_READ_REQUEST` (a non-zero return is the ATT error sent back)
and every remote write `_IRQ_GATTS_WRITE`, synchronously. Security flags become Bumble permissions, which check
encryption; Bumble counts any pairing as authenticated, so MITM (`*_AUTHENTICATED`) is checked here against the
link's real pairing method. `*_AUTHORIZED` attributes are always refused (no authorization hook exists). With
`read_requests` False (rp2-btstack: BTstack's binding queues IRQs in a ring buffer, so its read-request hook never
runs in time to refuse), reads are served without asking the application.
"""

import errno

from bumble import att, gatt

from tools.blehost.constants import (
    FLAG_READ,
    FLAG_READ_AUTHENTICATED,
    FLAG_READ_AUTHORIZED,
    FLAG_READ_ENCRYPTED,
    FLAG_WRITE,
    FLAG_WRITE_AUTHENTICATED,
    FLAG_WRITE_AUTHORIZED,
    FLAG_WRITE_ENCRYPTED,
    FLAG_WRITE_NO_RESPONSE,
    IRQ_GATTS_READ_REQUEST,
    IRQ_GATTS_WRITE,
)
from tools.blehost.uuids import UUID


DEFAULT_BUFFER = 20
_WRITES = FLAG_WRITE | FLAG_WRITE_NO_RESPONSE
_P = att.Attribute.Permissions


def permissions(flags):
    """Bumble attribute permissions for MicroPython characteristic/descriptor flags."""
    p = _P(0)
    if flags & FLAG_READ:
        p |= _P.READABLE
    if flags & _WRITES:
        p |= _P.WRITEABLE
    if flags & (FLAG_READ_ENCRYPTED | FLAG_READ_AUTHENTICATED):
        p |= _P.READ_REQUIRES_ENCRYPTION
    if flags & FLAG_READ_AUTHENTICATED:
        p |= _P.READ_REQUIRES_AUTHENTICATION
    if flags & FLAG_READ_AUTHORIZED:
        p |= _P.READ_REQUIRES_AUTHORIZATION
    if flags & (FLAG_WRITE_ENCRYPTED | FLAG_WRITE_AUTHENTICATED):
        p |= _P.WRITE_REQUIRES_ENCRYPTION
    if flags & FLAG_WRITE_AUTHENTICATED:
        p |= _P.WRITE_REQUIRES_AUTHENTICATION
    if flags & FLAG_WRITE_AUTHORIZED:
        p |= _P.WRITE_REQUIRES_AUTHORIZATION
    return p


class Value:
    """The local value of one characteristic or descriptor, addressed by its (value) handle."""

    def __init__(self, flags):
        self.flags = flags
        self.data = b""
        self.limit = DEFAULT_BUFFER
        self.append = False
        self.attribute = None  # the Bumble Characteristic or Descriptor

    @property
    def handle(self):
        return self.attribute.handle


class GattServer:
    """Registers services on a Bumble device after its own GAP and GATT services and serves their values;
    `irq(event, data)` reaches the application, `mitm(connection)` says whether the link's pairing had MITM
    protection."""

    def __init__(self, device, irq, mitm, gap_service, read_requests=True):
        self.read_requests = read_requests
        self.device = device
        self._irq = irq
        self._mitm = mitm
        self.values = {}  # handle -> Value
        self.fixed = [gap_service] + list(device.gatt_server.services)  # what the stack itself serves

    def register(self, definition):
        """Replace the application's services; returns one tuple of handles per service, MicroPython's order."""
        server = self.device.gatt_server
        server.attributes.clear()
        server.attributes_by_handle.clear()
        server.services.clear()
        server.add_services(self.fixed)
        self.values = {}
        result = []
        for service_uuid, characteristics in definition:
            values = []
            chars = [self._characteristic(c, values) for c in characteristics]
            server.add_service(gatt.Service(_uuid(service_uuid).to_bumble(), chars))
            result.append(tuple(v.handle for v in values))
            for v in values:
                self.values[v.handle] = v
        return result

    def _characteristic(self, definition, values):
        uuid, flags = definition[0], definition[1]
        value = Value(flags)
        values.append(value)
        descriptors = []
        for d_uuid, d_flags in definition[2] if len(definition) > 2 else ():
            d_value = Value(d_flags)
            values.append(d_value)
            d_value.attribute = gatt.Descriptor(_uuid(d_uuid).to_bumble(), permissions(d_flags), self._access(d_value))
            descriptors.append(d_value.attribute)
        value.attribute = gatt.Characteristic(_uuid(uuid).to_bumble(), gatt.Characteristic.Properties(flags & 0x7F),
                                              permissions(flags), self._access(value), descriptors)
        return value.attribute

    def _access(self, value):
        return att.AttributeValue(read=lambda connection: self._read(value, connection),
                                  write=lambda connection, data: self._write(value, connection, data))

    # ---- remote access (the Bumble server has already checked encryption) ----
    def _read(self, value, connection):
        if not value.flags & FLAG_READ:
            raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)
        if value.flags & FLAG_READ_AUTHENTICATED and not self._mitm(connection):
            raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR)
        status = self._irq(IRQ_GATTS_READ_REQUEST, (connection.handle, value.handle)) if self.read_requests else 0
        if status:
            raise att.ATT_Error(status)
        return value.data

    def _write(self, value, connection, data):
        if not value.flags & _WRITES:
            raise att.ATT_Error(att.ATT_WRITE_NOT_PERMITTED_ERROR)
        if value.flags & FLAG_WRITE_AUTHENTICATED and not self._mitm(connection):
            raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR)
        data = bytes(data)
        value.data = (value.data + data if value.append else data)[: value.limit]
        self._irq(IRQ_GATTS_WRITE, (connection.handle, value.handle))

    # ---- local access (BLE.gatts_*) ----
    def value(self, handle):
        v = self.values.get(handle)
        if v is None:
            raise OSError(errno.EINVAL, "no such value handle")
        return v

    def read(self, handle):
        v = self.value(handle)
        data = v.data
        if v.append:  # an append buffer is consumed by reading it
            v.data = b""
        return data

    def write(self, handle, data):
        v = self.value(handle)
        v.data = bytes(data)
        v.limit = max(v.limit, len(v.data))

    def set_buffer(self, handle, length, append=False):
        v = self.value(handle)
        v.limit = length
        v.append = bool(append)
        v.data = v.data[:length]

    def subscription(self, connection, handle):
        """(notify, indicate) as this connection's CCCD for the characteristic says."""
        cccd = self.device.gatt_server.subscribers.get(connection, {}).get(handle) or b"\0\0"
        return bool(cccd[0] & 1), bool(cccd[0] & 2)


def _uuid(u):
    if not isinstance(u, UUID):
        raise TypeError("a bluetooth.UUID is required, not %r" % (u,))
    return u
