"""Simulated board: every role of docs/roles.md backed by a plant model; runs on CPython and the MicroPython unix port.

The plant is the physical truth the firmware cannot see directly: the volume each step really moves, the drug really
left in the reservoir, what reached the patient, and the battery. Two clocks: `VirtualClock` is advanced by the
discrete-event simulator (tools/sim.py); `ScaledClock` runs pump time faster than real time under asyncio (make run).
"""

import sys
import time

from board.drivers import Hardware
from board.simflash import FakeStorage
from pump.compat import TICKS_MASK
from pump.config import RESET_POWER_ON

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio  # type: ignore

_START_TICKS = TICKS_MASK - 3600000  # ticks wrap one hour into every run: wrap bugs show at once
_EPOCH_2026_S = 838857600  # 2026-08-01 00:00 UTC in seconds since 2000-01-01
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

    def __init__(self, start_ticks=_START_TICKS):
        self.t_ms = 0
        self.start_ticks = start_ticks

    def ticks_ms(self):
        return (self.start_ticks + self.t_ms) & TICKS_MASK

    async def sleep_ms(self, ms):
        self.t_ms += max(ms, 0)
        await asyncio.sleep(0)


class ScaledClock:
    """Pump time running `speed` times faster than real time."""

    def __init__(self, speed=1, start_ticks=_START_TICKS):
        self.speed = speed
        self.start_ticks = start_ticks
        self._real0 = _real_ms()

    @property
    def t_ms(self):
        return _real_elapsed_ms(self._real0) * self.speed

    def ticks_ms(self):
        return (self.start_ticks + self.t_ms) & TICKS_MASK

    async def sleep_ms(self, ms):
        await _real_sleep_ms(max(ms, 0) // self.speed)


class SimRtc:
    """Battery-backed wall clock (ms since 2000-01-01) derived from the pump clock; it survives simulated resets."""

    def __init__(self, clock, wall_s=_EPOCH_2026_S):
        self.clock = clock
        self.offset_ms = wall_s * 1000

    def now_ms(self):
        return self.offset_ms + self.clock.t_ms

    def set_ms(self, ms):
        self.offset_ms = ms - self.clock.t_ms


class Plant:
    """Physical truth: true volume per step, drug in the reservoir, volume delivered, battery charge."""

    def __init__(self, nl_per_step=200, fill_ul=0, battery_mah=2000, step_uah=2, idle_ua=10):
        self.nl_per_step = nl_per_step  # what one step really moves (calibration may differ)
        self.reservoir_nl = fill_ul * 1000
        self.delivered_nl = 0
        self.steps_forward = 0
        self.steps_reverse = 0
        self.battery_uah = battery_mah * 1000
        self.step_uah = step_uah
        self.idle_ua = idle_ua

    def forward(self, n):
        self.steps_forward += n
        self.battery_uah -= n * self.step_uah
        moved = min(n * self.nl_per_step, self.reservoir_nl)  # an empty reservoir pumps nothing
        self.reservoir_nl -= moved
        self.delivered_nl += moved

    def refill(self, fill_ul):
        self.reservoir_nl = fill_ul * 1000


class SimStepper:
    """STEP/DIR/EN driver on the plant; counts enable cycles and refuses more pulses than a board would take."""

    def __init__(self, plant, max_steps_per_s=500, max_steps_per_call=2000):
        self.plant = plant
        self.max_steps_per_s = max_steps_per_s
        self.max_steps_per_call = max_steps_per_call
        self.enabled = False
        self.enables = 0
        self.calls = 0

    def step_forward(self, n=1):
        if not 0 < n <= self.max_steps_per_call:
            raise ValueError("n")
        self.enabled = True
        self.enables += 1
        self.calls += 1
        self.plant.forward(n)
        self.enabled = False

    def step_reverse(self, n):
        if not 0 < n <= self.max_steps_per_call:
            raise ValueError("n")
        self.plant.steps_reverse += n

    def disable(self):
        self.enabled = False


class SimBattery:
    """Lithium primary cell: flat near 3.6 V, then a knee towards 3.0 V over the last tenth of its charge."""

    def __init__(self, plant, full_uah=None):
        self.plant = plant
        self.full_uah = full_uah or plant.battery_uah

    def read_mv(self):
        pct_x10 = max(0, self.plant.battery_uah) * 1000 // self.full_uah
        if pct_x10 >= 100:
            return 3500 + pct_x10 // 10
        return 3000 + pct_x10 * 5


class SimWatchdog:
    def __init__(self):
        self.feeds = 0
        self.timeout_ms = 0

    def start(self, timeout_ms):
        self.timeout_ms = timeout_ms

    def feed(self):
        self.feeds += 1


class SimHardware(Hardware):
    """Hardware with the plant and the simulator's knobs attached."""

    def __init__(self, clock, plant, storage, rtc, pump_config, library_path, setup, run_for_ms):
        super().__init__(
            "sim", "5e4d000000000001", clock, rtc, SimStepper(plant), storage, SimBattery(plant), None,
            SimWatchdog(), RESET_POWER_ON, self._request_reset)
        self.plant = plant
        self.pump_config = pump_config
        self.library_path = library_path
        self.setup = setup  # first-boot fill and prescription (the sim's clinician)
        self.run_for_ms = run_for_ms
        self.reset_requested = False

    def _request_reset(self):
        self.reset_requested = True


DEMO_SETUP = {
    "fill_ul": 20000,
    "prescription": {
        "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {
            "mode": "flex",
            "steps": [{"start": "00:00", "dose_ug_per_day": 4000}, {"start": "08:00", "dose_ug_per_day": 6000}],
        },
        "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4},
    },
}


def _env_int(name, default):
    import os

    v = os.getenv(name)
    return int(v) if v else default


def build(config=None):
    """The simulated board; `config` may hold clock, plant, storage, pump_config, setup, speed, days, library_path.

    Without config (make run) it reads PUMP_SPEED and PUMP_DAYS from the environment and uses the demo set-up.
    """
    config = config or {}
    speed = config.get("speed") or _env_int("PUMP_SPEED", 3600)
    days = config.get("days") or _env_int("PUMP_DAYS", 0)
    clock = config.get("clock") or ScaledClock(speed)
    plant = config.get("plant") or Plant(fill_ul=DEMO_SETUP["fill_ul"])
    return SimHardware(
        clock,
        plant,
        config.get("storage") or FakeStorage(),
        config.get("rtc") or SimRtc(clock),
        config.get("pump_config"),
        config.get("library_path", "lib/druglib.json"),
        config.get("setup", DEMO_SETUP),
        days * 86400000 if days else None,
    )
