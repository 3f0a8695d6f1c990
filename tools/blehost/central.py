"""A Bumble central that plays the phone: scan, connect, discover, read, write (in fragments), subscribe, pair.

    phone = Central()                      # joins the running loop's in-process link (or link=, transport=)
    await phone.start()
    adv = await phone.scan(name="pump-1a2b")
    link = await phone.connect(adv)
    await link.discover()
    status = await link.read(STATUS_UUID)
    await link.subscribe(STATUS_UUID)      # or indicate=True
    kind, value = await link.next_update(STATUS_UUID)
    await link.pair(mitm=True)             # numeric comparison when both sides can display and confirm

Bonds stay in the central's memory key store, so a later connection can `encrypt()` without pairing again.
Everything the peripheral sends (subscribed or not) is queued per value handle as ("notify"|"indicate", bytes).
"""

import asyncio
import struct

from bumble import gatt, pairing
from bumble.core import AdvertisingData
from bumble.device import Peer

from tools.blehost.radio import Radio
from tools.blehost.uuids import UUID

IO_NO_INPUT_OUTPUT = pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
IO_DISPLAY_YES_NO = pairing.PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT
IO_KEYBOARD_DISPLAY = pairing.PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT
_CCCD = gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR


class Advert:
    """One advertising report: address, local name (or None), raw payload, connectable."""

    def __init__(self, report):
        self.address = report.address
        self.data = bytes(report.data_bytes)
        self.connectable = report.is_connectable
        self.rssi = report.rssi
        self.name = None
        for ad_type, value in report.data.ad_structures:
            if ad_type in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
                self.name = bytes(value).decode("utf-8", "replace")

    def __repr__(self):
        return "Advert(%s, name=%r)" % (self.address, self.name)


class PhoneDelegate(pairing.PairingDelegate):
    """The user at the phone: shows numbers and passkeys (kept in `shown`), accepts comparisons if `accept`."""

    def __init__(self, io, accept=True, passkey=None):
        super().__init__(io_capability=io)
        self.accept = accept
        self.passkey = passkey  # what the user types when asked (the number the pump displays)
        self.shown = []

    async def compare_numbers(self, number, digits):
        self.shown.append(number)
        return self.accept

    async def display_number(self, number, digits):
        self.shown.append(number)

    async def get_number(self):
        passkey = self.passkey() if callable(self.passkey) else self.passkey
        return await passkey if asyncio.iscoroutine(passkey) else passkey


class Central:
    """The phone's radio; `connect` returns a `Link` per connected peripheral."""

    def __init__(self, link=None, transport=None, address=None, name="phone"):
        self.radio = Radio(name, address=address, link=link, transport=transport)
        self.device = self.radio.device

    async def start(self):
        await self.radio.open()
        return self

    async def close(self):
        await self.radio.close()

    async def scan(self, name=None, match=None, timeout_s=5.0):
        """First advertisement whose local name is `name` (or that `match(advert)` accepts)."""
        found = asyncio.get_running_loop().create_future()

        def on_advertisement(report):
            advert = Advert(report)
            if found.done():
                return
            if (name is None or advert.name == name) and (match is None or match(advert)):
                found.set_result(advert)

        self.device.on(self.device.EVENT_ADVERTISEMENT, on_advertisement)
        try:
            await self.device.start_scanning(filter_duplicates=False)
            return await asyncio.wait_for(found, timeout_s)
        finally:
            self.device.remove_listener(self.device.EVENT_ADVERTISEMENT, on_advertisement)
            await self.device.stop_scanning()

    async def connect(self, target, timeout_s=5.0):
        address = target.address if isinstance(target, Advert) else target
        connection = await self.device.connect(address, timeout=timeout_s)
        return Link(self, connection)


class Link:
    """One connection to a peripheral, seen from the phone."""

    def __init__(self, central, connection):
        self.central = central
        self.connection = connection
        self.peer = Peer(connection)
        self.updates = {}  # value handle -> asyncio.Queue of (kind, bytes)
        self.delegate = None
        self.security_requests = asyncio.Queue()
        self.disconnected = asyncio.get_running_loop().create_future()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        connection.on(connection.EVENT_SECURITY_REQUEST, self.security_requests.put_nowait)

    def _on_disconnection(self, reason):
        if not self.disconnected.done():
            self.disconnected.set_result(reason)

    @property
    def handle(self):
        return self.connection.handle

    @property
    def encrypted(self):
        return bool(self.connection.encryption)

    # ---- discovery ----
    async def discover(self):
        """Services, characteristics and descriptors; returns {service UUID: [characteristic UUID, ...]}."""
        await self.peer.discover_services()
        for service in self.peer.services:
            await service.discover_characteristics()
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
        return {UUID.from_bumble(s.uuid): [UUID.from_bumble(c.uuid) for c in s.characteristics]
                for s in self.peer.services}

    def characteristic(self, uuid, service=None):
        """The discovered characteristic with this UUID (in `service` if given); KeyError if none."""
        want = UUID(uuid).to_bumble()
        for s in self.peer.services:
            if service is not None and s.uuid != UUID(service).to_bumble():
                continue
            for c in s.characteristics:
                if c.uuid == want:
                    return c
        raise KeyError(uuid)

    # ---- reads and writes ----
    async def read(self, uuid, service=None):
        return bytes(await self.characteristic(uuid, service).read_value())

    async def read_handle(self, handle):
        return bytes(await self.peer.read_value(handle))

    async def write(self, uuid, data, with_response=True, service=None):
        await self.characteristic(uuid, service).write_value(bytes(data), with_response=with_response)

    async def write_fragments(self, uuid, data, fragment=None, with_response=True, service=None):
        """`data` in consecutive writes of at most `fragment` bytes (default ATT MTU - 3); returns the count."""
        size = fragment or self.connection.att_mtu - 3
        characteristic = self.characteristic(uuid, service)
        data = bytes(data)
        for i in range(0, len(data), size):
            await characteristic.write_value(data[i:i + size], with_response=with_response)
        return (len(data) + size - 1) // size

    async def exchange_mtu(self, mtu):
        return await self.peer.request_mtu(mtu)

    # ---- notifications and indications ----
    def _queue(self, handle):
        q = self.updates.get(handle)
        if q is None:
            q = self.updates[handle] = asyncio.Queue()
            client = self.connection.gatt_client
            client.notification_subscribers.setdefault(handle, set()).add(lambda v: q.put_nowait(("notify", v)))
            client.indication_subscribers.setdefault(handle, set()).add(lambda v: q.put_nowait(("indicate", v)))
        return q

    def listen(self, uuid, service=None):
        """Queue what the peripheral sends on this characteristic, without subscribing (CCCD untouched)."""
        return self._queue(self.characteristic(uuid, service).handle)

    async def subscribe(self, uuid, indicate=False, service=None):
        """Write the CCCD (notifications, or indications) and queue what arrives."""
        characteristic = self.characteristic(uuid, service)
        q = self._queue(characteristic.handle)
        cccd = characteristic.get_descriptor(_CCCD)
        if cccd is None:
            raise KeyError("no CCCD on %s" % uuid)
        await cccd.write_value(struct.pack("<H", 2 if indicate else 1), with_response=True)
        return q

    async def unsubscribe(self, uuid, service=None):
        await self.characteristic(uuid, service).get_descriptor(_CCCD).write_value(b"\0\0", with_response=True)

    async def next_update(self, uuid, timeout_s=2.0, service=None):
        """The next ("notify"|"indicate", value) on this characteristic."""
        kind, value = await asyncio.wait_for(self.listen(uuid, service).get(), timeout_s)
        return kind, bytes(value)

    def pending(self, uuid, service=None):
        """Updates already received and not yet taken."""
        q = self.listen(uuid, service)
        out = []
        while not q.empty():
            kind, value = q.get_nowait()
            out.append((kind, bytes(value)))
        return out

    # ---- security ----
    async def pair(self, mitm=False, bond=True, sc=True, io=None, accept=True, passkey=None):
        """Pair as the initiator. Just Works unless `mitm` and both sides' I/O allow numeric comparison/passkey.
        `self.delegate.shown` then holds the number this phone displayed."""
        io = io if io is not None else (IO_DISPLAY_YES_NO if mitm else IO_NO_INPUT_OUTPUT)
        self.delegate = PhoneDelegate(io, accept=accept, passkey=passkey)
        delegate = self.delegate
        self.central.device.pairing_config_factory = (
            lambda _c: pairing.PairingConfig(sc=sc, mitm=mitm, bonding=bond, delegate=delegate))
        await self.connection.pair()

    async def encrypt(self):
        """Encrypt with the bond from an earlier pairing (fails if the peripheral lost it)."""
        await self.connection.encrypt()

    async def disconnect(self):
        if not self.disconnected.done():
            await self.connection.disconnect()
            await self.disconnected
