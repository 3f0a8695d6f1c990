"""BLE notification probe run by `make bench` on MicroPython: heap bytes per status notification, prints JSON.

    micropython tools/bench_ble.py      (MICROPYPATH=.frozen:lib:.)

A pump at 15 mL/day (a step every 1.152 s) with a connected, encrypted central on the recording fake radio (in its
counting mode): every wake delivers a step and the BLE task notifies the changed status in two 20-byte frames.
"""

import gc
import json

from board import sim as simboard
from board.sim import radio as bluetooth
from board.sim.clock import VirtualClock
from board.sim.flash import FakeStorage
from board.sim.plant import Plant
from pump.bleservice import PumpService
from pump.compat import heap_lock, heap_unlock, ticks_diff
from pump.config import PumpConfig
from pump.controller import Pump
from pump.druglib import DrugLibrary

_WAKES = 500


def build():
    clock = VirtualClock()
    hw = simboard.build({"clock": clock, "storage": FakeStorage(), "plant": Plant(fill_ul=40000)})
    pump = Pump(hw, PumpConfig({"checkpoint_interval_s": 86400}), DrugLibrary.load("lib/druglib.json"),
                clock.ticks_ms())
    pump.refill(40000, 1000)
    pump.program({"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
                  "therapy": {"mode": "constant", "dose_ug_per_day": 15000}})
    radio = bluetooth.BLE()
    svc = PumpService(radio, bluetooth, pump, hw.storage, hw.uid_hex, "bench", clock, urandom=bytes,
                      out=lambda text: None)
    radio.connect()
    radio.encrypt()
    svc.run(clock.ticks_ms())
    radio.indicate_done()
    return clock, pump, svc, radio


def wakes(clock, pump, tick, run, n):
    """n wake-ups at the pump's deadlines; `tick` and `run` are bound methods fetched once (fetching one allocates)."""
    while n > 0:
        deadline = pump.plan.next_deadline()
        clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
        tick(deadline)
        run(deadline)
        n -= 1


def main():
    clock, pump, svc, radio = build()
    tick = pump.tick
    run = svc.run
    wakes(clock, pump, tick, run, 20)
    radio.record = False
    first = radio.notifies
    gc.collect()
    gc.disable()
    before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    wakes(clock, pump, tick, run, _WAKES)
    allocated = (gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0) - before
    gc.enable()
    notifies = radio.notifies - first
    locked_ok = True
    heap_lock()
    try:
        wakes(clock, pump, tick, run, _WAKES)
    except MemoryError:
        locked_ok = False
    finally:
        heap_unlock()
    locked = radio.notifies - first - notifies
    print(json.dumps({"notifications": notifies, "heap_bytes_per_notification": allocated / max(notifies, 1),
                      "heap_lock_ok": locked_ok, "locked_notifications": locked}))


main()
