"""The pump's GATT table and advertising (docs/ble.md): the UUIDs, flags and descriptors of Device Information,
Battery and the pump service, the features value, their registration on MicroPython's BLE object (injected), and the
advertising payloads. Registration is the set-up; pump.bleservice runs the service on the handles it returns.
"""

import binascii
import struct

from pump.compat import const
from pump.frames import MAX_FRAME, Framer
from pump.session import SESSION_UUID  # the handshake's characteristic (write, indicate)

SERVICE_UUID = "7b0d0001-b4cc-4e13-8bcc-33c19f4e4a2a"
STATUS_UUID = "7b0d0002-b4cc-4e13-8bcc-33c19f4e4a2a"
ALARM_UUID = "7b0d0003-b4cc-4e13-8bcc-33c19f4e4a2a"
RACP_UUID = "7b0d0004-b4cc-4e13-8bcc-33c19f4e4a2a"
HISTORY_UUID = "7b0d0005-b4cc-4e13-8bcc-33c19f4e4a2a"
COMMAND_UUID = "7b0d0006-b4cc-4e13-8bcc-33c19f4e4a2a"
FEATURES_UUID = "7b0d0007-b4cc-4e13-8bcc-33c19f4e4a2a"
DIS_UUID = const(0x180A)
BATTERY_UUID = const(0x180F)
BATTERY_LEVEL_UUID = const(0x2A19)
USER_DESCRIPTION_UUID = const(0x2901)
PRESENTATION_FORMAT_UUID = const(0x2904)
DIS_CHARS = (0x2A29, 0x2A24, 0x2A25, 0x2A26)  # manufacturer, model, serial number, firmware revision
MANUFACTURER = "pump prototype"
DESCRIPTIONS = ("Pump status", "Pump alarm", "History RACP", "History records", "Command point", "Pump features",
                "Secure session")
FEATURES = "<HHII"  # flags, largest command message, nL per step, reservoir capacity µL
FEATURE_KEYS = const(1)  # command keys provisioned
FEATURE_PRESSURE = const(2)  # occlusion sensing by a pressure sensor
FEATURE_ENCODER = const(4)  # stall detection by an encoder
CMD_MAX = const(3072)  # longest command message (a program's JSON up to about 3 KB)
ADV_INTERVAL_US = const(1000000)  # as docs/battery.md budgets it

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_ENCRYPTED = const(0x0200)
_F_WRITE_ENCRYPTED = const(0x1000)
_F_WRITE_AUTHENTICATED = const(0x2000)
# Presentation Format: struct (opaque, read as the framed layout of docs/ble.md), and the battery's uint8 percent
_FORMAT_STRUCT = b"\x1b\x00\x00\x27\x01\x00\x00"
_FORMAT_PERCENT = b"\x04\x00\xad\x27\x01\x00\x00"


def _ad(kind, data):
    return bytes((len(data) + 1, kind)) + data


def advertising(name):
    """(advertising data, scan response) of a pump called `name`: flags and the name; the pump service's UUID."""
    uuid_le = bytes(reversed(binascii.unhexlify(SERVICE_UUID.replace("-", ""))))
    return b"\x02\x01\x06" + _ad(0x09, name.encode()), _ad(0x07, uuid_le)


def register(ble, bt, uid_hex, firmware, model, features, nl_per_step, reservoir_ul, link_security):
    """Register the three services on `ble` (`bt`: the module, for UUID) and write their static values: Device
    Information, the descriptors, the features value (`features`: FEATURE_* flags). `link_security`: the stack pairs,
    so the pump characteristics also ask for an encrypted (commands: MITM-authenticated) link; without it the secure
    session alone protects them. Returns the value handles (battery level, status, alarm, RACP, history, command
    point, features, session)."""
    U = bt.UUID
    descs = ((U(USER_DESCRIPTION_UUID), _F_READ), (U(PRESENTATION_FORMAT_UUID), _F_READ))
    rd = _F_READ_ENCRYPTED if link_security else 0
    wr = _F_WRITE_ENCRYPTED if link_security else 0
    cmd = _F_WRITE_AUTHENTICATED if link_security else 0
    flags = (_F_READ | _F_NOTIFY | rd, _F_READ | _F_INDICATE | rd, _F_WRITE | _F_INDICATE | wr, _F_NOTIFY,
             _F_WRITE | _F_INDICATE | cmd, _F_READ, _F_WRITE | _F_INDICATE)
    uuids = (STATUS_UUID, ALARM_UUID, RACP_UUID, HISTORY_UUID, COMMAND_UUID, FEATURES_UUID, SESSION_UUID)
    chars = [(U(uuids[i]), flags[i], descs) for i in range(7)]
    level = (U(BATTERY_LEVEL_UUID), _F_READ | _F_NOTIFY, ((U(PRESENTATION_FORMAT_UUID), _F_READ),))
    dis, bat, h = ble.gatts_register_services((
        (U(DIS_UUID), [(U(u), _F_READ) for u in DIS_CHARS]),
        (U(BATTERY_UUID), (level,)),
        (U(SERVICE_UUID), chars),
    ))
    write = ble.gatts_write
    for handle, text in zip(dis, (MANUFACTURER, model, uid_hex, firmware)):
        write(handle, text.encode())
    write(bat[1], _FORMAT_PERCENT)
    for i in range(7):
        write(h[3 * i + 1], DESCRIPTIONS[i].encode())
        write(h[3 * i + 2], _FORMAT_STRUCT)
    h_racp, h_command, h_features, h_session = h[6], h[12], h[15], h[18]
    ble.gatts_set_buffer(h_command, MAX_FRAME)
    ble.gatts_set_buffer(h_racp, MAX_FRAME)
    ble.gatts_set_buffer(h_session, MAX_FRAME)
    f = Framer(12)
    f.pack(struct.pack(FEATURES, features, CMD_MAX, nl_per_step, reservoir_ul), 12, 0, MAX_FRAME)
    write(h_features, f.views[0])
    return bat[0], h[0], h[3], h_racp, h[9], h_command, h_features, h_session
