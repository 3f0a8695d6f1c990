"""`bluetooth.BLE` of MicroPython (peripheral role, GATT server, pairing) on a Bumble device.

The application's IRQ handler is called synchronously from Bumble's event loop, with MicroPython's event numbers
and argument tuples (addresses and secrets as read-only memoryviews, valid during the call). Methods return at once,
as on a board; what needs the controller (power-on, advertising, disconnecting, indications) is queued and carried
out in call order on the running event loop. `await ble.settle()` waits for that queue (tests and tools only).
An exception in the handler is printed and kept in `irq_errors`, and the stack carries on, as MicroPython does.

`profile` is the stack of a board's stock MicroPython (board.sim.radio.PROFILES; default PUMP_BLE_STACK, else
"esp32-nimble"): "esp32-nimble" pairs and bonds through the IRQs; "rp2-btstack" is MicroPython's BTstack binding as
the Pico W builds it (no MICROPY_PY_BLUETOOTH_ENABLE_PAIRING_BONDING, see extmod/modbluetooth.c): config(bond=, mitm=,
le_secure=, io=) raises ValueError("unknown config param"), gap_pair and gap_passkey are not there, a central's
pairing request is refused (pairing not supported), no encryption, passkey or secret event ever arrives, and reads
never reach the application (its read-request hook runs too late on BTstack: extmod/btstack/modbluetooth_btstack.c).
"""

import asyncio
import collections
import errno
import logging
import sys
import traceback

from bumble import att, gatt
from bumble.device import AdvertisingType
from bumble.hci import Address, OwnAddressType

from board.sim.radio import NIMBLE, PAIRING_PARAMS, PROFILES, profile_from_env
from tools.blehost.constants import (
    FLAG_INDICATE,
    FLAG_NOTIFY,
    IRQ_CENTRAL_CONNECT,
    IRQ_CENTRAL_DISCONNECT,
    IRQ_CONNECTION_UPDATE,
    IRQ_GATTS_INDICATE_DONE,
    IRQ_MTU_EXCHANGED,
)
from tools.blehost.gatts import GattServer
from tools.blehost.radio import Radio
from tools.blehost.security import Security


INDICATE_TIMEOUT_STATUS = 13  # NimBLE's BLE_HS_ETIMEOUT: no confirmation (or the link went away)
_MTU_MIN, _MTU_MAX = 23, 517
_ADV_MAX = 31  # legacy advertising payload
_DEFAULT_NAME = b"MPY BUMBLE"

logger = logging.getLogger(__name__)


def _silent(_event, _data):
    """rp2-btstack: the stack raises no pairing, encryption or secret-store event."""
    return None


def _addr(address):
    """(addr_type, addr) as MicroPython reports them: 0 public / 1 random, most significant byte first."""
    return (0 if address.is_public else 1), memoryview(bytes(address)[::-1])


class BLE:
    """One BLE radio. `BLE()` joins the running event loop's in-process link; `link=` another LocalLink,
    `transport="usb:0"` (any Bumble transport) a real controller; `address=` fixes the address (a restarted
    board keeps its address)."""

    def __init__(self, link=None, transport=None, address=None, name="pump", profile=None):
        profile = profile or profile_from_env()
        if profile not in PROFILES:
            raise ValueError("profile: %r is not a stack profile (one of %s)" % (profile, ", ".join(PROFILES)))
        self.profile = profile
        self.pairing = profile == NIMBLE
        self._where = {"link": link, "transport": transport, "address": address, "name": name}
        self._radio = None
        self._active = False
        self._handler = None
        self._gap_name = _DEFAULT_NAME
        self._mtu = 256
        self._addr_mode = None  # default: public if the controller has one, else static random
        self._sec_config = {"bond": False, "mitm": False, "le_secure": False, "io": 3}
        self._adv = {"adv_data": b"", "resp_data": b""}
        self._ops = collections.deque()
        self._worker = None
        self.gatts = None
        self.security = None
        self.irq_errors = []
        self.op_errors = []

    # ---- configuration ----
    def active(self, active=None):
        if active is None:
            return self._active
        if active and not self._active:
            self._start()
        elif not active and self._active:
            self._active = False
            radio, self._radio = self._radio, None
            self._queue(radio.close)
        return self._active

    def _start(self):
        w = self._where
        radio = self._radio = Radio(w["name"], address=w["address"], link=w["link"], transport=w["transport"],
                                    gap_service=False)
        w["address"] = radio.address  # a reactivated radio keeps its address
        device = radio.device
        device.gatt_server.max_mtu = self._mtu
        self.gatts = GattServer(device, self._irq, self._is_mitm, self._gap_service(), read_requests=self.pairing)
        self.gatts.register(())
        self.security = Security(device, self._irq if self.pairing else _silent, self.pairing)
        for key, value in self._sec_config.items():
            setattr(self.security, key, value)
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self._active = True
        self._queue(self._power_on)

    async def _power_on(self):
        await self._radio.open()
        self._radio.device.irk = self.security.keystore.identity_key()

    def _gap_service(self):
        name = gatt.Characteristic(gatt.GATT_DEVICE_NAME_CHARACTERISTIC, gatt.Characteristic.Properties.READ,
                                   att.Attribute.READABLE, att.AttributeValue(read=lambda _c: self._gap_name))
        appearance = gatt.Characteristic(gatt.GATT_APPEARANCE_CHARACTERISTIC, gatt.Characteristic.Properties.READ,
                                         att.Attribute.READABLE, b"\0\0")
        return gatt.Service(gatt.GATT_GENERIC_ACCESS_SERVICE, [name, appearance])

    def config(self, *names, **values):
        if names:
            if len(names) != 1 or values:
                raise TypeError("config() takes one parameter name to read, or keywords to set")
            return self._config_get(names[0])
        for key, value in values.items():
            self._config_set(key, value)
        return None

    def _config_get(self, name):
        if not self.pairing and name in PAIRING_PARAMS:
            raise ValueError("unknown config param")
        if name == "mac":
            self._need_active()
            device = self._radio.device
            return _addr(device.public_address if self._own_address() == OwnAddressType.PUBLIC
                         else device.random_address)
        if name == "gap_name":
            return self._gap_name
        if name == "mtu":
            return self._mtu
        if name == "addr_mode":
            return int(self._own_address() == OwnAddressType.RANDOM)
        if name in self._sec_config:
            return self._sec_config[name]
        raise ValueError("unknown config param")

    def _config_set(self, name, value):
        if not self.pairing and name in PAIRING_PARAMS:
            raise ValueError("unknown config param")
        if name == "gap_name":
            self._gap_name = value.encode() if isinstance(value, str) else bytes(value)
        elif name == "mtu":
            if not _MTU_MIN <= value <= _MTU_MAX:
                raise ValueError("invalid mtu")
            self._mtu = value
            if self._radio:
                self._radio.device.gatt_server.max_mtu = value
        elif name == "addr_mode":
            if value not in (0, 1):  # RPA and NRPA (2, 3) are not offered by this host
                raise OSError(errno.EOPNOTSUPP, "addr_mode %r not supported" % value)
            self._addr_mode = value
        elif name in self._sec_config:
            self._sec_config[name] = int(value) if name == "io" else bool(value)
            if self.security:
                setattr(self.security, name, self._sec_config[name])
        elif name != "rxbuf":  # the host has no fixed event buffer
            raise ValueError("unknown config param")

    def irq(self, handler):
        self._handler = handler

    # ---- GAP ----
    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        for key, data in (("adv_data", adv_data), ("resp_data", resp_data)):
            if data is not None:
                if len(bytes(data)) > _ADV_MAX:
                    raise OSError(errno.EINVAL, "%s longer than %d bytes" % (key, _ADV_MAX))
                self._adv[key] = bytes(data)
        if interval_us is None:
            self._queue(self._radio.device.stop_advertising)
            return
        interval_ms = max(interval_us // 625, 32) * 0.625  # whole 0.625 ms units, at least 20 ms
        if connectable:
            kind = AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE
        else:
            kind = AdvertisingType.UNDIRECTED_SCANNABLE if self._adv["resp_data"] else AdvertisingType.UNDIRECTED
        own = self._own_address()
        device, adv = self._radio.device, dict(self._adv)

        async def start():
            await device.stop_advertising()
            await device.start_advertising(advertising_type=kind, own_address_type=own,
                                           advertising_data=adv["adv_data"], scan_response_data=adv["resp_data"],
                                           advertising_interval_min=interval_ms, advertising_interval_max=interval_ms)

        self._queue(start)

    def gap_disconnect(self, conn_handle):
        connection = self._connections().get(conn_handle)
        if connection is None:
            return False
        self._queue(connection.disconnect)
        return True

    def gap_pair(self, conn_handle):
        """As a peripheral: ask the central to pair (SMP Security Request) with the configured bond/mitm/sc."""
        self._need_pairing()
        self._radio.device.request_pairing(self._connection(conn_handle))

    def gap_passkey(self, conn_handle, action, passkey):
        self._need_pairing()
        self._connection(conn_handle)
        if not self.security.answer(conn_handle, action, passkey):
            raise OSError(errno.EINVAL, "no passkey action pending")

    # ---- GATT server ----
    def gatts_register_services(self, services_definition):
        self._need_active()
        return self.gatts.register(services_definition)

    def gatts_read(self, value_handle):
        self._need_active()
        return self.gatts.read(value_handle)

    def gatts_write(self, value_handle, data, send_update=False):
        self._need_active()
        self.gatts.write(value_handle, data)
        if not send_update:
            return
        flags = self.gatts.value(value_handle).flags
        for connection in self._connections().values():
            notify, indicate = self.gatts.subscription(connection, value_handle)
            if notify and flags & FLAG_NOTIFY:
                self.gatts_notify(connection.handle, value_handle)
            elif indicate and flags & FLAG_INDICATE:
                self.gatts_indicate(connection.handle, value_handle)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        """Sent at once, subscribed or not (MicroPython's contract); cut to the link's ATT MTU - 3."""
        connection = self._connection(conn_handle)
        payload = bytes(data) if data is not None else self.gatts.value(value_handle).data
        pdu = att.ATT_Handle_Value_Notification(attribute_handle=value_handle,
                                                attribute_value=payload[: connection.att_mtu - 3])
        self._radio.device.gatt_server.send_gatt_pdu(connection, bytes(pdu))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        """Queued; `_IRQ_GATTS_INDICATE_DONE` (conn, handle, status) follows the confirmation (status 0)."""
        connection = self._connection(conn_handle)
        value = self.gatts.value(value_handle)
        payload = bytes(data) if data is not None else value.data
        server = self._radio.device.gatt_server

        async def indicate():
            status = 0
            try:
                await connection.cancel_on_disconnection(
                    server.indicate_subscriber(connection, value.attribute, payload, force=True))
            except Exception:  # noqa: BLE001 - a confirmation that never came, whatever the cause: the stack's timeout
                status = INDICATE_TIMEOUT_STATUS
            self._irq(IRQ_GATTS_INDICATE_DONE, (conn_handle, value_handle, status))

        asyncio.get_running_loop().create_task(indicate())

    def gatts_set_buffer(self, value_handle, length, append=False):
        self._need_active()
        self.gatts.set_buffer(value_handle, length, append)

    # ---- host side (not part of MicroPython's API) ----
    async def settle(self):
        """Wait until every queued controller operation has been carried out."""
        while self._worker is not None and not self._worker.done():
            await self._worker

    @property
    def address(self):
        return self._where["address"]

    # ---- internals ----
    def _irq(self, event, data):
        handler = self._handler
        if handler is None or not self._active:  # a stopped stack reports nothing (not even its disconnects)
            return None
        try:
            return handler(event, data)
        except Exception as e:  # noqa: BLE001 - printed and survived, as on a board
            self.irq_errors.append(e)
            print("Unhandled exception in IRQ callback handler", file=sys.stderr)
            traceback.print_exc()
            return None

    def _own_address(self):
        mode = self._addr_mode
        if mode is None:
            mode = 1 if self._radio is None or self._radio.device.public_address == Address.ANY else 0
        return OwnAddressType.PUBLIC if mode == 0 else OwnAddressType.RANDOM

    def _is_mitm(self, connection):
        return self.security.is_mitm(connection)

    def _on_connection(self, connection):
        handle = connection.handle
        addr_type, addr = _addr(connection.peer_address)
        self.security.attach(connection)
        connection.on(connection.EVENT_DISCONNECTION,
                      lambda reason: self._irq(IRQ_CENTRAL_DISCONNECT, (handle, addr_type, addr)))
        connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE,
                      lambda: self._irq(IRQ_MTU_EXCHANGED, (handle, connection.att_mtu)))
        connection.on(connection.EVENT_CONNECTION_PARAMETERS_UPDATE, lambda: self._on_parameters(connection))
        self._irq(IRQ_CENTRAL_CONNECT, (handle, addr_type, addr))

    def _on_parameters(self, connection):
        p = connection.parameters
        self._irq(IRQ_CONNECTION_UPDATE, (connection.handle, round(p.connection_interval / 1.25),
                                          p.peripheral_latency, round(p.supervision_timeout / 10), 0))

    def _connections(self):
        return self._radio.device.connections if self._radio else {}

    def _connection(self, conn_handle):
        connection = self._connections().get(conn_handle)
        if connection is None:
            raise OSError(errno.ENOTCONN, "not connected")
        return connection

    def _need_pairing(self):
        if not self.pairing:  # BTstack's binding has no such method: as calling one that is not there
            raise AttributeError("'BLE' object has no attribute (BTstack built without pairing)")

    def _need_active(self):
        if not self._active:
            raise OSError(errno.ENODEV, "BLE not active")

    def _queue(self, operation):
        self._ops.append(operation)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self):
        while self._ops:
            operation = self._ops.popleft()
            try:
                await operation()
            except Exception as e:  # noqa: BLE001 - counted and logged; the queue goes on
                self.op_errors.append(e)
                logger.warning("BLE operation failed: %r", e)
                if operation == self._power_on:  # no controller: nothing queued after it can run
                    self._ops.clear()
