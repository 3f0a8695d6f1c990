"""The simulator (tools/sim) and its plant model (board/sim): scenarios, clock changes, storage faults, BLE."""
