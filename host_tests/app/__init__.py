"""The asyncio shell (pump.app) in virtual pump time: dosing wakes, faults, the watchdog, the BLE task."""
