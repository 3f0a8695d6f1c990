"""The simulator (`python -m tools.sim SCENARIO.json`): the firmware's own Pump on the simulated board in virtual time.

sim.py        Simulation (a scenario run, every step checked against the reference) and the command line
scenario.py   scenario files (format version 1): load and check every key
reference.py  the exact integral of the programmed dose, written independently of lib/pump
plot.py       the result as a PNG (reservoir, delivered against programmed, rate, events)
ble.py        the simulated pump on the air: its BLE service through tools/blehost, for `--ble`
The example scenarios are in tools/scenarios/.
"""
