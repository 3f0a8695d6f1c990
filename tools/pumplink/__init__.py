"""The host side of the pump's BLE protocol and the links to a pump, shared by the programmer, the telemetry client,
the simulator's phone and the tests (docs/ble.md).

proto.py  UUIDs, command encoding and decoders of everything the pump sends, on the firmware's own code
link.py   the programmer's seam (a command in, a reply out), LocalLink (onto a Pump object) and DryRunLink
ble.py    the link over BLE: the GATT seam, BleakTransport/BleakGatt (a real pump), CentralGatt (Bumble), history
phone.py  the pump's app on a Bumble central: pair, read status, send authenticated commands (tests, bench)
"""
