"""Heap probe run by `make bench` on the 64-bit unix port and on the 32-bit webassembly port: what the firmware's code
and its data take in the heap; prints one JSON line.

    micropython verify/bench/heap.py                     (MICROPYPATH=.frozen:lib:host_tests:.)
    node host_tests/wasm/run.mjs --script verify/bench/heap.py

code: the heap the firmware's modules take once imported (pump.app and everything it imports, compiled from source
here; the boards load .mpy, which `make bench` measures separately). sim: what the simulated board's modules add.
data: the live heap of one Pump built on the simulated board, filled and programmed, after 2000 step wake-ups.
"""

import gc
import json
import sys


def _live():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()


def main():
    base = _live()
    import pump.app  # the firmware: app, controller, safety, store, log, ...

    code = _live() - base
    from board.sim.clock import VirtualClock
    from board.sim.flash import FakeStorage
    from board.sim.hardware import build as build_sim
    from board.sim.plant import Plant

    sim = _live() - base - code
    from pump.compat import ticks_diff
    from pump.config import PumpConfig
    from pump.controller import Pump
    from pump.druglib import DrugLibrary

    before = _live()
    gc.disable()  # allocations counted, none freed: comparable between ports whatever their collector keeps
    clock = VirtualClock()
    plant = Plant(fill_ul=20000)
    hw = build_sim({"clock": clock, "storage": FakeStorage(), "plant": plant})
    pump = Pump(hw, PumpConfig(None), DrugLibrary.load("lib/druglib.json"), clock.ticks_ms())
    pump.refill(20000, 10000)
    pump.program({"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
                  "therapy": {"mode": "constant", "dose_ug_per_day": 10000}}, confirm_battery=True)
    built = gc.mem_alloc() - before
    gc.enable()
    tick = pump.tick
    deadline = tick(clock.ticks_ms())
    n = 2000
    while n > 0:
        clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
        deadline = tick(clock.ticks_ms())
        n -= 1
    data = _live() - before
    print(json.dumps({"interpreter": sys.implementation.name, "word_bits": 32 if sys.maxsize < 1 << 32 else 64,
                      "code_bytes": code, "sim_bytes": sim, "data_bytes": data, "build_alloc_bytes": built,
                      "steps": plant.steps_forward}))


main()
