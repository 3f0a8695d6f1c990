"""Test hook of the emulator suite, placed on the emulated board as emuhook.py (never deployed): heap figures on the
console (free, allocated, the largest block) and a task made to hang, as emuhook.json asks. board.start hands it the
app before the app runs."""

import asyncio
import gc
import json
import time

from pump.config import RESET_WATCHDOG


def _settings():
    try:
        with open("emuhook.json") as f:
            return json.load(f)
    except OSError:
        return {}


def _largest_block():
    """The largest bytearray the heap can give now, to 256 bytes (fragmentation: free bytes are not one block)."""
    lo, hi = 0, gc.mem_free() + 1
    while hi - lo > 256:
        mid = (lo + hi) // 2
        try:
            bytearray(mid)
            lo = mid
        except MemoryError:
            hi = mid
        gc.collect()
    return lo


async def _memory(every_ms):
    while True:
        gc.collect()
        free, alloc = gc.mem_free(), gc.mem_alloc()
        print("emuhook mem_free %d mem_alloc %d largest %d" % (free, alloc, _largest_block()))
        await asyncio.sleep_ms(every_ms)


async def _hang(app, after_ms):
    await asyncio.sleep_ms(after_ms)
    if app.hw.reset_cause == RESET_WATCHDOG:
        return  # hung once already: this boot is the one after the watchdog reset
    print("emuhook hang")
    while True:  # blocks the event loop: no task runs, nothing feeds the watchdog (the CPU sleeps meanwhile)
        time.sleep_ms(1000)


def attach(app):
    cfg = _settings()
    run = app.run

    async def run_hooked(run_for_ms=None):
        tasks = []
        if cfg.get("mem_every_ms"):
            tasks.append(asyncio.create_task(_memory(cfg["mem_every_ms"])))
        if cfg.get("hang_after_ms"):
            tasks.append(asyncio.create_task(_hang(app, cfg["hang_after_ms"])))
        await run(run_for_ms)

    app.run = run_hooked
