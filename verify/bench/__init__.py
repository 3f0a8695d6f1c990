"""`make bench` (`python -m verify.bench`): speed, memory, wake-ups and code size against their budgets.

bench.py       the table (out/bench.json) and BUDGETS, which host_tests/project/test_budgets.py holds the firmware to
heapsearch.py  the whole-app probe's runs and the least-heap search, shared with frozen.py
frozen.py      `make frozen-bench`: the least heap with the firmware frozen into the interpreter's image (one-off)
occlusion.py   the occlusion detector against the hydraulic plant (docs/hydraulics.md)
app.py, cycle.py, heap.py, ble.py   the probes: scripts run on MicroPython (ble.py also holds the BLE timings)
"""
