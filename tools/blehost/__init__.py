"""Bumble-backed BLE host for the firmware's MicroPython BLE code on CPython (tests, simulator, real dongles).

bluetooth.py  the `bluetooth` module shim handed to firmware code (BLE, UUID, FLAG_*)
ble.py        BLE: configuration, IRQ dispatch, GAP, GATT server calls, queue of controller operations
gatts.py      service registration, local values, access checks (flags -> permissions, MITM)
security.py   pairing settings, passkey actions, bonds through GET/SET_SECRET, encryption reports
uuids.py      MicroPython's UUID and its Bumble equivalent
radio.py      where a device's controller is: the in-process virtual link, or a transport (usb:0 ...)
central.py    a Bumble central that plays the phone in tests and tools
"""
