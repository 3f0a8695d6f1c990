"""What developers run to check the firmware beyond the host tests: bench, soak, mutants, hazards (docs/architecture.md)

bench/          `make bench`: the table of memory, wake-ups, code size and speed, and the probes it runs on MicroPython
soak.py         `make soak`: years of pump life in the simulator with random events, invariants at every wake-up
mutants.py      `make mutants`: mutation testing of the safety-critical modules
hazards.py      `make hazards`: the hazard table; each mitigation taken out of a copy, its tests must fail
ble_vectors.py  the BLE protocol's test vectors (host_tests/support/vectors/) from the firmware's own code
"""

import tools  # noqa: F401 - lib/ on sys.path, as for every tool (tools/__init__.py)
