"""Whole-app probe run by `make bench` on the MicroPython unix port: the asyncio firmware (pump.app.App, every task) on
the simulated board in virtual time; prints one JSON line with wake-ups per task, steps and heap figures.

    micropython -X heapsize=N verify/bench/app.py [DAYS] [DOSE_UG_PER_DAY] [UG_PER_ML] [ble]
                                                        (MICROPYPATH=.frozen:lib:.)

With `ble`, the board also has the BLE role: the recording fake radio (board/sim/radio.py, counting only) with
a connected, encrypted central, so the BLE service runs and notifies every status change.

The virtual clock jumps from one task's wake-up to the next, so a week takes seconds. Heap: `gc.mem_alloc()` is
read before and after each of the app's own collections; see HeapProbe. `make bench` reruns it with smaller and
smaller `-X heapsize=` to find the least heap a 7-day run survives. `flash_bytes`: what the simulated flash holds at
the end; it lives in this heap, on a board in flash.
"""

import gc
import json
import sys

from board import sim as simboard
from board.sim.clock import VirtualClock
from board.sim.flash import FakeStorage
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant
from pump import app as app_module
from pump.config import PumpConfig

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio  # pyright: ignore[reportMissingImports]

_DAY_MS = 86400000


class CountingClock(VirtualClock):
    """VirtualClock that counts the sleeps: every task iteration ends in one, so each is one wake-up of the board."""

    def __init__(self):
        super().__init__()
        self.sleeps = 0

    async def sleep_ms(self, ms):
        self.sleeps += 1
        await super().sleep_ms(ms)


class HeapProbe:
    """Stands in for the gc module inside pump.app: at each of the app's own collections (after every console
    status line) it records the heap before (the most it held since the last one) and after (what stays live).
    MicroPython also collects on its own whenever an allocation does not fit: the least -X heapsize= that runs,
    found by `make bench`, is the figure that counts."""

    def __init__(self):
        self.peak = 0
        self.live_max = 0
        self.collections = 0

    def collect(self):
        used = gc.mem_alloc()
        if used > self.peak:
            self.peak = used
        gc.collect()
        live = gc.mem_alloc()
        if live > self.live_max:
            self.live_max = live
        self.collections += 1


class LineCounter:
    """The app's console: counts the status lines and keeps none (a week of kept lines would be 34 KB of heap)."""

    def __init__(self):
        self.n = 0

    def __call__(self, line):
        self.n += 1


def main(argv):
    days = float(argv[0]) if argv else 7
    dose = int(argv[1]) if len(argv) > 1 else 5000
    conc = int(argv[2]) if len(argv) > 2 else 10000
    with_ble = len(argv) > 3 and argv[3] == "ble"
    probe = HeapProbe()
    app_module.gc = probe
    clock = CountingClock()
    plant = Plant(fill_ul=40000)
    Hydraulics(clock).attach(plant)
    setup = {"fill_ul": 40000, "prescription": {
        "drug": {"name": "morphine", "concentration_ug_per_ml": conc},
        "therapy": {"mode": "constant", "dose_ug_per_day": dose},
        "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}}
    storage = FakeStorage()
    config = {"clock": clock, "plant": plant, "storage": storage}
    radio = None
    if with_ble:
        from board.sim import radio as bluetooth

        radio = bluetooth.BLE(bluetooth.BTSTACK)  # the Pico W's stack: the secure session alone
        radio.record = False
        key = bytes(range(32))
        keys_path = "/tmp/pump-bench-keys.json"
        with open(keys_path, "w") as f:
            json.dump({"clinician": bytes(range(1, 33)).hex(), "patient": bytes(range(2, 34)).hex(),
                       "monitor": key.hex()}, f)
        config.update({"ble": radio, "bluetooth": bluetooth, "urandom": lambda n: bytes(range(n)),
                       "keys_path": keys_path})
    hw = simboard.build(config)
    lines = LineCounter()
    gc.collect()
    app = app_module.App(hw, PumpConfig(None), app_module.load_library("lib/druglib.json", lines), setup, out=lines)
    if radio is not None:
        # The fake radio calls the IRQ handler in this thread: a plain Event does what the ThreadSafeFlag does on a
        # board, without the unix port's 1 ms real-time poll per wait that would make a simulated week take an hour.
        app.ble.flag = asyncio.Event()
        radio.connect()
        from board.sim.aes import new_ecb
        from pump.cmdauth import ROLE_MONITOR
        from pump.session import CentralSession

        svc = app.ble
        central = CentralSession(key, ROLE_MONITOR, new_ecb)  # a dashboard's monitor session

        def exchange(msg):
            return radio.exchange(svc.h_session, msg, lambda: svc.run(clock.ticks_ms()))

        central.established(exchange(central.confirm(exchange(central.hello(bytes(16))))))
    asyncio.run(app.run(int(days * _DAY_MS)))
    gc.collect()
    print(json.dumps({
        "days": days,
        "steps": plant.steps_forward,
        "wakeups": clock.sleeps,
        "dosing_wakeups": app.wakeups,
        "status_lines": lines.n,
        "watchdog_feeds": hw.watchdog.feeds,
        "notifications": radio.notifies if radio is not None else 0,
        "heap_peak_bytes": probe.peak,
        "heap_live_max_bytes": probe.live_max,
        "heap_end_bytes": gc.mem_alloc(),
        "flash_bytes": sum(len(blob) for blob in storage.blobs.values()),
        "collections": probe.collections,
        "fault": None if app.fault is None else repr(app.fault[1]),
    }))


main(sys.argv[1:])
