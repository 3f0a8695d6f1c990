"""Where a Bumble device gets its controller: the in-process virtual link of the running event loop, or a transport.

`LocalLink` + `Controller` give real HCI, link layer, ATT and SMP between devices of one process, with no radio;
a transport string (`usb:0`, `serial:/dev/ttyACM0`, `tcp-client:127.0.0.1:1234`, see bumble.transport) reaches a
real controller instead, e.g. a USB dongle a phone can connect to.
"""

import asyncio
import itertools
import weakref

from bumble.controller import Controller
from bumble.device import Device, DeviceConfiguration
from bumble.hci import Address
from bumble.host import Host
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

_links = weakref.WeakKeyDictionary()  # event loop -> its default LocalLink
_serial = itertools.count(1)


def default_link():
    """The LocalLink shared by every device of the running event loop that is not given another one."""
    from bumble.link import LocalLink

    loop = asyncio.get_running_loop()
    link = _links.get(loop)
    if link is None:
        link = _links[loop] = LocalLink()
    return link


def new_address():
    """A fresh static random address (top two bits set)."""
    n = next(_serial)
    return "C0:00:00:00:%02X:%02X" % (n >> 8 & 0xFF, n & 0xFF)


class Radio:
    """One Bumble device and where its controller is; `device` exists at once, the controller after `open()`."""

    def __init__(self, name, address=None, link=None, transport=None, gap_service=True):
        self.address = address or new_address()
        self.transport_spec = transport
        self.link = None if transport else (link or default_link())
        config = DeviceConfiguration(name=name, address=Address(self.address), gap_service_enabled=gap_service)
        self.device = Device(config=config)
        self.controller = None
        self._transport = None
        if self.link is not None:
            # no public address: the link routes packets by the static random address
            self.controller = Controller(name, link=self.link)
            self.device.host = Host(self.controller, AsyncPipeSink(self.controller))

    async def open(self):
        """Attach the transport (if any) and power the device on (HCI reset, addresses, key store)."""
        if self.transport_spec:
            self._transport = await open_transport(self.transport_spec)
            self.device.host = Host(self._transport.source, self._transport.sink)
        await self.device.power_on()

    async def close(self):
        """Drop every connection and leave the link (or close the transport): the device is gone from the air."""
        device = self.device
        for connection in list(device.connections.values()):
            try:
                await connection.disconnect()
            except Exception:  # noqa: BLE001 - already going away
                pass
        if device.powered_on:
            await device.power_off()
        if self.controller is not None and self.controller in self.link.controllers:
            self.link.remove_controller(self.controller)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
