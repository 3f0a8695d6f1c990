"""Control-cycle probe run by `make bench` on MicroPython and on CPython: heap per step cycle, cycle time, prints JSON.

    micropython verify/bench/cycle.py      (MICROPYPATH=.frozen:lib:host_tests:.)
"""

import gc
import json
import sys
import time

from board import sim as simboard
from board.sim.clock import VirtualClock
from board.sim.flash import FakeStorage
from board.sim.plant import Plant
from pump.compat import heap_lock, heap_unlock, is_micropython, ticks_diff
from pump.config import PumpConfig
from pump.controller import Pump
from pump.druglib import DrugLibrary

_CYCLES = 2000
_PRESCRIPTION = {
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "therapy": {"mode": "constant", "dose_ug_per_day": 10000},  # 1 mL/day: 5000 steps/day
}


def _now_us():
    if is_micropython():
        return time.ticks_us()  # type: ignore[attr-defined]
    return time.perf_counter_ns() // 1000  # type: ignore[attr-defined]


def _elapsed_us(t0):
    if is_micropython():
        return time.ticks_diff(time.ticks_us(), t0)  # type: ignore[attr-defined]
    return _now_us() - t0


def build(checkpoint_s):
    clock = VirtualClock()
    plant = Plant(fill_ul=20000)
    hw = simboard.build({"clock": clock, "storage": FakeStorage(), "plant": plant})
    # no reading noise: the sim's noise generator is a 32-bit xorshift, boxed on 32-bit ports, where a board's ADC
    # read allocates nothing; the hourly battery sample is then measured like the board's
    hw.battery.noise_mv = 0
    cfg = PumpConfig({"checkpoint_interval_s": checkpoint_s})
    pump = Pump(hw, cfg, DrugLibrary.load("lib/druglib.json"), clock.ticks_ms())
    pump.refill(20000, 10000)
    pump.program(_PRESCRIPTION, confirm_battery=True)  # a bench rate: the battery's 90 days are not the question
    return clock, pump


def run_cycles(clock, tick, n):
    """n wake-ups, each jumping to the pump's next deadline (one step each at this rate); `tick` is the cached
    bound method (fetching `pump.tick` allocates one, as the app knows)."""
    deadline = tick(clock.ticks_ms())
    while n > 0:  # not `for ... in range()`: a range object is a heap allocation
        clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
        deadline = tick(clock.ticks_ms())
        n -= 1


def heap_per_cycle():
    """Bytes allocated per step cycle (checkpoints moved out of the window): gc off, mem_alloc before and after."""
    clock, pump = build(86400)
    tick = pump.tick
    run_cycles(clock, tick, 50)  # warm-up: caches, first checkpoint
    gc.collect()
    gc.disable()
    before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    run_cycles(clock, tick, _CYCLES)
    after = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    gc.enable()
    locked_ok = None
    if is_micropython():
        heap_lock()
        try:
            run_cycles(clock, tick, _CYCLES)
            locked_ok = True
        except MemoryError:
            locked_ok = False
        finally:
            heap_unlock()
    return (after - before) / _CYCLES, locked_ok


def cycle_time_us():
    """Median over 15 batches of the mean time of one wake-up (tick + virtual clock jump)."""
    clock, pump = build(900)
    tick = pump.tick
    run_cycles(clock, tick, 50)
    times = []
    for _ in range(15):
        t0 = _now_us()
        run_cycles(clock, tick, 500)
        times.append(_elapsed_us(t0) / 500)
    times.sort()
    return times[len(times) // 2]


def main():
    per_cycle, locked_ok = heap_per_cycle()
    out = {
        "interpreter": sys.implementation.name,
        "heap_bytes_per_cycle": per_cycle,
        "heap_lock_cycles_ok": locked_ok,
        "cycle_us": cycle_time_us(),
    }
    print(json.dumps(out))


main()
