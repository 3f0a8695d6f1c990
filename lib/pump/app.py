"""The asyncio firmware: dosing, console telemetry and housekeeping tasks around one Pump; faults stop the motor first.

The dosing task is event-driven: it sleeps until the controller's next deadline (a step or a schedule boundary)
and never polls. Any exception in any task disables the motor driver before anything else, then is logged.
"""

import gc

from pump import events as ev
from pump.alarms import TONE_HZ, pattern, tone_at
from pump.compat import ticks_diff
from pump.config import PumpConfig
from pump.controller import Pump
from pump.druglib import DrugLibrary
from pump.errors import PumpError
from pump.status import status_line

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio  # pyright: ignore[reportMissingImports]

TASK_DOSING = 1
TASK_TELEMETRY = 2
TASK_HOUSEKEEPING = 3
TASK_ANNUNCIATOR = 4
_HOUSEKEEPING_MS = 1000  # pump-time period of gc and watchdog feeding
_WATCHDOG_MS = 8000  # hardware watchdog timeout (the RP2040 allows at most 8388 ms)
_DOSING_GRACE_MS = 5000  # the dosing task counts as alive while it is no later than this past its deadline
_SILENCED_POLL_MS = 1000  # while silenced, a new alarm is looked for this often


def load_library(path):
    """The drug library, or None (programming is then refused, delivery stays stopped) when missing or malformed."""
    try:
        return DrugLibrary.load(path)
    except (OSError, PumpError) as e:
        print("drug library unavailable:", e)
        return None


class App:
    """Builds the Pump on the injected hardware and runs its tasks."""

    def __init__(self, hw, out=print):
        self.hw = hw
        self.out = out
        self.config = PumpConfig(getattr(hw, "pump_config", None))
        self.library = load_library(getattr(hw, "library_path", "/lib/druglib.json"))
        self.pump = Pump(hw, self.config, self.library)
        self.wakeups = 0
        self.fault = None
        self._dosing_due = hw.clock.ticks_ms()
        self._alarm_changed = asyncio.Event()
        self._alarm_bits = -1
        setup = getattr(hw, "setup", None)
        if setup and self.pump.therapy is None:
            self.first_setup(setup)

    def first_setup(self, setup):
        """First boot of a simulated pump: fill and program it as a clinician would."""
        conc = setup["prescription"]["drug"]["concentration_ug_per_ml"]
        self.pump.refill(setup["fill_ul"], conc)
        self.pump.program(setup["prescription"])

    def safe_state(self, task_id, exc):
        """Motor off first, then record the fault; never raises."""
        try:
            self.hw.stepper.disable()
        finally:
            self.pump.halted = True  # the dosing task may still run before the app stops: it must not step
            self.fault = (task_id, exc)
            try:
                self.pump.log.append(self.pump.wall_s(), ev.TASK_FAULT, task_id, getattr(exc, "code", 0))
            except Exception:  # noqa: BLE001 - the log may be what failed
                pass

    async def _guard(self, task_id, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - every fault must reach the safe state
            self.safe_state(task_id, e)
            raise

    async def dosing(self):
        clock = self.hw.clock
        tick = self.pump.tick
        alarms = self.pump.safety.alarms
        while True:
            deadline = tick(clock.ticks_ms())
            self._dosing_due = deadline
            self.wakeups += 1
            if alarms.active_bitmap != self._alarm_bits:
                self.alarm_changed()
            wait_ms = ticks_diff(deadline, clock.ticks_ms())
            if wait_ms > 0:
                await clock.sleep_ms(wait_ms)
            else:
                await asyncio.sleep(0)

    async def telemetry(self):
        interval_ms = self.config.status_interval_s * 1000
        while True:
            self.out(status_line(self.pump, self.hw.clock.ticks_ms()))
            await self.hw.clock.sleep_ms(interval_ms)

    def alarm_changed(self):
        """Wake the annunciator (an alarm was raised, cleared, acknowledged or silenced)."""
        self._alarm_bits = self.pump.safety.alarms.active_bitmap
        self._alarm_changed.set()

    async def housekeeping(self):
        """gc, and the hardware watchdog fed only while the dosing task keeps its deadlines: a hung task resets."""
        clock = self.hw.clock
        watchdog = self.hw.watchdog
        if watchdog is not None:
            watchdog.start(_WATCHDOG_MS)
        while True:
            gc.collect()
            if watchdog is not None and ticks_diff(clock.ticks_ms(), self._dosing_due) < _DOSING_GRACE_MS:
                watchdog.feed()
            await clock.sleep_ms(_HOUSEKEEPING_MS)

    async def annunciate(self):
        """Buzzer plays the sounding alarm's pattern, the LED is lit while any alarm is active; idle otherwise."""
        hw = self.hw
        clock = hw.clock
        alarms = self.pump.safety.alarms
        buzzer = getattr(hw, "buzzer", None)
        led = getattr(hw, "led", None)
        while True:
            now = clock.ticks_ms()
            alarms.advance(now)
            if led is not None:
                led.on() if alarms.active_bitmap else led.off()
            code = alarms.sounding(now)
            if code:
                on, wait_ms = tone_at(pattern(code), ticks_diff(now, alarms.since_ms[code]))
                if buzzer is not None:
                    buzzer.tone(TONE_HZ) if on else buzzer.off()
                await clock.sleep_ms(max(wait_ms, 1))
                continue
            if buzzer is not None:
                buzzer.off()
            if alarms.next_deadline(now) is not None:  # silenced, or a repeat is due: keep an eye on it
                await clock.sleep_ms(_SILENCED_POLL_MS)
                continue
            self._alarm_changed.clear()
            await self._alarm_changed.wait()

    async def run(self, run_for_ms=None):
        """Run every task; returns after run_for_ms of pump time, or raises the first task fault."""
        tasks = [
            asyncio.create_task(self._guard(TASK_DOSING, self.dosing())),
            asyncio.create_task(self._guard(TASK_TELEMETRY, self.telemetry())),
            asyncio.create_task(self._guard(TASK_HOUSEKEEPING, self.housekeeping())),
            asyncio.create_task(self._guard(TASK_ANNUNCIATOR, self.annunciate())),
        ]
        try:
            if run_for_ms is None:
                await asyncio.gather(*tasks)
            else:
                await self._until(run_for_ms, tasks)
        finally:
            for t in tasks:
                t.cancel()
            self.hw.stepper.disable()

    async def _until(self, run_for_ms, tasks):
        clock = self.hw.clock
        start = clock.t_ms if hasattr(clock, "t_ms") else None
        left = run_for_ms
        while left > 0:
            for t in tasks:
                if t.done():
                    t.result()  # re-raise the fault that ended a task
            await clock.sleep_ms(min(left, 60000))
            left = run_for_ms - (clock.t_ms - start) if start is not None else left - 60000
        self.out(status_line(self.pump, self.hw.clock.ticks_ms()))
        self.pump.checkpoint(clock.ticks_ms())


def main(hw):
    """Device and `make run` entry: build the app on `hw` and run until the board's run time (if any) is over."""
    app = App(hw)
    therapy = app.pump.therapy
    app.out("pump %s on %s: %s" % (_version(), hw.name, therapy.describe() if therapy else "no program"))
    try:
        asyncio.run(app.run(getattr(hw, "run_for_ms", None)))
    except Exception as e:  # noqa: BLE001
        app.out("fault: %r" % (e,))
        hw.reset()
    return app


def _version():
    from pump import VERSION

    return VERSION
