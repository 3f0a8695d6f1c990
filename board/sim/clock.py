"""Simulated board, time: the pump clock (virtual for the discrete-event simulator, scaled for `make run`) and the
battery-backed RTC derived from it. Ticks wrap at 2**30 like a board's, one hour into every run."""

import sys
import time

from pump.compat import TICKS_MASK, ticks_add

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio  # pyright: ignore[reportMissingImports]

START_TICKS = TICKS_MASK - 3600000  # ticks wrap one hour into every run: wrap bugs show at once
EPOCH_2026_S = 838857600  # 2026-08-01 00:00 UTC in seconds since 2000-01-01
_USE_TICKS = sys.implementation.name == "micropython"


def _real_ms():
    if _USE_TICKS:
        return time.ticks_ms()  # type: ignore[attr-defined]
    return time.monotonic_ns() // 1000000  # type: ignore[attr-defined]


def _real_elapsed_ms(start):
    if _USE_TICKS:
        return time.ticks_diff(time.ticks_ms(), start)  # type: ignore[attr-defined]
    return _real_ms() - start


async def _real_sleep_ms(ms):
    if _USE_TICKS:
        await asyncio.sleep_ms(ms)  # type: ignore[attr-defined]
    else:
        await asyncio.sleep(ms / 1000)


class VirtualClock:
    """Pump time set by a simulator: `t_ms` counts from 0 without bound, `ticks_ms()` wraps like a board's."""

    def __init__(self, start_ticks=START_TICKS):
        self.t_ms = 0
        self.start_ticks = start_ticks
        self._pending = []  # wake times of the tasks sleeping in virtual time

    def ticks_ms(self):
        # small ints all the way, as a board's ticks_ms(): start + t would pass 2**30 and allocate on 32-bit ports
        return ticks_add(self.start_ticks, self.t_ms & TICKS_MASK)

    async def sleep_ms(self, ms):
        """Sleep in virtual time: only the earliest pending sleeper moves the clock, so concurrent sleeps overlap."""
        target = self.t_ms + max(ms, 0)  # a zero sleep holds the clock too: this task is runnable now
        pending = self._pending
        pending.append(target)
        try:
            await asyncio.sleep(0)  # tasks asleep from the same instant register their wake times first
            settled = False
            while self.t_ms < target:
                if target > min(pending):
                    settled = False
                    await asyncio.sleep(0)
                elif not settled:  # one more round: a task started in the meantime registers its wake time first
                    settled = True
                    await asyncio.sleep(0)
                else:
                    self.t_ms = target
        finally:
            pending.remove(target)


class ScaledClock:
    """Pump time running `speed` times faster than real time."""

    def __init__(self, speed=1, start_ticks=START_TICKS):
        if not 1 <= speed:  # sleep_ms divides by it
            raise ValueError("speed: %r, allowed 1 or more" % (speed,))
        self.speed = speed
        self.start_ticks = start_ticks
        self._real0 = _real_ms()

    @property
    def t_ms(self):
        return _real_elapsed_ms(self._real0) * self.speed

    def ticks_ms(self):
        return ticks_add(self.start_ticks, self.t_ms & TICKS_MASK)

    async def sleep_ms(self, ms):
        await _real_sleep_ms(-(-max(ms, 0) // self.speed))  # rounded up: never wakes before pump time `ms`


class SimRtc:
    """Battery-backed wall clock (ms since 2000-01-01) derived from the pump clock; it survives simulated resets."""

    def __init__(self, clock, wall_s=EPOCH_2026_S):
        self.clock = clock
        self.offset_ms = wall_s * 1000

    def now_ms(self):
        return self.offset_ms + self.clock.t_ms

    def set_ms(self, ms):
        self.offset_ms = ms - self.clock.t_ms
