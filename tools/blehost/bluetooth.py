"""The `bluetooth` module as MicroPython documents it, on Bumble: hand it to code written for the boards.

    from tools.blehost import bluetooth
    ble = bluetooth.BLE()          # in an asyncio task: joins the event loop's in-process link
    service = PumpBle(bluetooth, ble, ...)

Event and flag numbers are MicroPython's; `_IRQ_*` constants are not module attributes there either.
"""

from tools.blehost.ble import BLE
from tools.blehost.constants import (
    FLAG_AUTHENTICATED_SIGNED_WRITE,
    FLAG_AUX_WRITE,
    FLAG_BROADCAST,
    FLAG_INDICATE,
    FLAG_NOTIFY,
    FLAG_READ,
    FLAG_READ_AUTHENTICATED,
    FLAG_READ_AUTHORIZED,
    FLAG_READ_ENCRYPTED,
    FLAG_WRITE,
    FLAG_WRITE_AUTHENTICATED,
    FLAG_WRITE_AUTHORIZED,
    FLAG_WRITE_ENCRYPTED,
    FLAG_WRITE_NO_RESPONSE,
)
from tools.blehost.uuids import UUID

__all__ = [
    "BLE",
    "FLAG_AUTHENTICATED_SIGNED_WRITE",
    "FLAG_AUX_WRITE",
    "FLAG_BROADCAST",
    "FLAG_INDICATE",
    "FLAG_NOTIFY",
    "FLAG_READ",
    "FLAG_READ_AUTHENTICATED",
    "FLAG_READ_AUTHORIZED",
    "FLAG_READ_ENCRYPTED",
    "FLAG_WRITE",
    "FLAG_WRITE_AUTHENTICATED",
    "FLAG_WRITE_AUTHORIZED",
    "FLAG_WRITE_ENCRYPTED",
    "FLAG_WRITE_NO_RESPONSE",
    "UUID",
]
