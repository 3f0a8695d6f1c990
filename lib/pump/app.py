"""The asyncio firmware: dosing, console telemetry, annunciator, BLE, wired and bolus button tasks around one Pump;
faults stop the motor.

The dosing task is event-driven: it sleeps until the controller's next deadline (a step, a schedule boundary or a
sensor sample) and never polls. It also feeds the hardware watchdog, at least every FEED_MS (so a gap between
steps longer than that costs one extra wake-up), and only while every other task that owes a wake-up has checked in
with the supervisor on time. A command (BLE, the wired path, the bolus button) that brings the next deadline forward
is seen at its next wake-up, at most FEED_MS later. Any exception in any task disables the motor driver before
anything else, then is logged.
"""

import gc

from pump.alarms import TONE_HZ, pattern, tone_at
from pump.button import BolusButton
from pump.compat import ticks_diff
from pump.controller import Pump
from pump.druglib import DrugLibrary
from pump.errors import PumpError
from pump.status import status_line
from pump.supervisor import Supervisor

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio  # pyright: ignore[reportMissingImports]

TASK_DOSING = 1
TASK_TELEMETRY = 2
TASK_ANNUNCIATOR = 4
TASK_BLE = 5
TASK_WIRED = 6
TASK_BUTTON = 7
_WATCHDOG_MS = 8000  # hardware watchdog timeout (the RP2040 allows at most 8388 ms)
FEED_MS = 4000  # the dosing task wakes at least this often to feed the watchdog: half its timeout
_LATE_MS = 5000  # a task counts as alive while it is no later than this past the wake-up it asked for
_SILENCED_POLL_MS = 1000  # while silenced, a new alarm is looked for this often
_UNTIL_CHECK_MS = 3600000  # a run with an end (tests, `make run DAYS=`) looks for task faults this often


def load_library(path, out=print):
    """The drug library, or None when missing or malformed: programming is then refused, and the stored program keeps
    running, unchecked, with the DRUG_LIBRARY_FAULT alarm (pump.controller)."""
    try:
        return DrugLibrary.load(path)
    except (OSError, PumpError) as e:
        out("drug library unavailable: %s" % (e,))
        return None


class App:
    """Builds the Pump on the injected hardware and runs its tasks. `config`: the PumpConfig (config.json's "pump");
    `library`: the DrugLibrary, or None (load_library); `setup`: the fill and prescription of a simulated pump's first
    boot ({"fill_ul", "prescription"}), None on a board; `run_for_ms`: pump time `run()` stops after, None: never."""

    def __init__(self, hw, config, library, setup=None, run_for_ms=None, out=print):
        self.hw = hw
        self.out = out
        # The command paths' code is loaded before the pump's data: loaded later, into a heap the pump's buffers have
        # cut up, a .mpy module's code found no contiguous block on the Pico (MemoryError with 100 KB free).
        if hw.ble is not None:
            import pump.bleservice
        if hw.console is not None:
            import pump.wired  # noqa: F401
        gc.collect()
        self.config = config
        self.library = library
        self.run_for_ms = run_for_ms
        self.pump = Pump(hw, config, library)
        self.wakeups = 0
        self.fault = None
        self.supervisor = Supervisor()
        self._alarm_changed = asyncio.Event()
        self._alarm_bits = -1
        if setup and self.pump.first_boot:  # never over a program lost later: that is an alarm, not a set-up
            self.first_setup(setup)
        self._auth = None
        self.ble = None
        if hw.ble_note:  # no radio (none on the board, or turned off): said once, the pump doses on
            self.out("%s: status on the console only" % hw.ble_note)
        if hw.ble is not None:
            try:
                self.ble = self.ble_service()
            except Exception as e:  # noqa: BLE001 - the pump doses on without BLE, and says why
                self.out("BLE unavailable: %r" % (e,))
                try:
                    hw.ble.active(False)
                except Exception:  # noqa: BLE001
                    pass
        self._ble_wait = -1
        self._ble_timer = asyncio.Event()
        self._annunciator = None  # its task, while the app runs
        self._pausing = False
        self._interrupt = False
        self.wired = None
        if hw.console is not None:
            from pump.wired import Wired

            self.wired = Wired(self.pump, self.command_auth(), hw.console, hw.clock, self.out, self.command_ran)
        self.button = None
        if hw.button is not None:
            self.button = BolusButton(hw.button, hw.clock, hw.buzzer, self.pump, self.command_ran, self.alarm_changed)

    def command_auth(self):
        """The pump's one command authentication (keys.json, the counters' store), shared by the BLE command point
        and the wired path: one counter per role whatever the link, so a command seen on one cannot replay on the
        other."""
        if self._auth is None:
            from pump.cmdauth import CommandAuth, load_keys

            hw = self.hw
            path = hw.keys_path
            try:
                keys = load_keys(path) if path else None
            except PumpError as e:  # the message names the field, never a key
                self.out("keys unusable, BLE commands refused: %s" % e)
                keys = None
            if keys is None:
                self.out("no keys: no BLE session opens (no telemetry, no commands over BLE); status on the console")
            self._auth = CommandAuth(hw.storage, keys, self._log, hw.clock.ticks_ms(), self.pump.alarms)
            if self._auth.lost:
                self.out("command counters lost: commands refused until a new keys.json is provisioned over USB")
        return self._auth

    def _log(self, code, a, b):
        try:
            self.pump.log.append(self.pump.wall_s(), code, a, b)
        except PumpError:
            pass

    def ble_service(self):
        """The BLE peripheral on the board's `ble` role, with the pump's command authentication."""
        from pump import VERSION
        from pump.bleservice import PumpService

        hw = self.hw
        return PumpService(hw.ble, hw.bluetooth, self.pump, hw.storage, hw.uid_hex, VERSION, hw.clock,
                           urandom=hw.urandom, out=self.out, model=hw.name, auth=self.command_auth(), new_ecb=hw.aes)

    def command_ran(self):
        """A wired command or a button press ran: what it changed shows on BLE, an alarm it raised or cleared sounds
        or stops."""
        if self.pump.alarms.active_bitmap != self._alarm_bits:
            self.alarm_changed()
        self.ble_look()

    def first_setup(self, setup):
        """First boot of a simulated pump: fill and program it as a clinician would."""
        conc = setup["prescription"]["drug"]["concentration_ug_per_ml"]
        self.pump.refill(setup["fill_ul"], conc)
        # (a bench rate no cell keeps 90 days past its warning is the setup's to choose: confirmed, E600 is not asked)
        self.pump.program(setup["prescription"], confirm_battery=True)

    def safe_state(self, task_id, exc):
        """Motor off first, then record the fault; never raises."""
        try:
            self.hw.stepper.disable()
        finally:
            self.pump.halted = True  # the dosing task may still run before the app stops: it must not step
            self.fault = (task_id, exc)
            try:
                self.pump.fault(task_id, getattr(exc, "code", 0))
            except Exception:  # noqa: BLE001 - the log or the store may be what failed
                pass

    async def _guard(self, task_id, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:  # every fault must reach the safe state
            self.safe_state(task_id, e)
            raise

    async def dosing(self):
        """Steps and checks at the controller's deadlines; feeds the watchdog while every task checks in on time."""
        clock = self.hw.clock
        pump = self.pump
        tick = pump.tick
        alarms = pump.alarms
        watchdog = self.hw.watchdog
        if watchdog is not None:
            watchdog.start(_WATCHDOG_MS)
        deadline = clock.ticks_ms()
        while True:
            now = clock.ticks_ms()
            if pump.retimed or ticks_diff(now, deadline) >= 0:  # due, or a command may have brought it forward
                pump.retimed = False
                deadline = tick(now)
                self.wakeups += 1
                if alarms.active_bitmap != self._alarm_bits:
                    self.alarm_changed()
                self.ble_look()  # the status may have changed
            if watchdog is not None and self.supervisor.healthy(now):
                watchdog.feed()
            wait_ms = ticks_diff(deadline, clock.ticks_ms())
            if wait_ms > FEED_MS:
                wait_ms = FEED_MS
            if wait_ms > 0:
                await clock.sleep_ms(wait_ms)
            else:
                await asyncio.sleep(0)

    async def telemetry(self):
        """The console status line every status_interval_s, then a garbage collection (the line allocated)."""
        clock = self.hw.clock
        interval_ms = self.config.status_interval_s * 1000
        while True:
            now = clock.ticks_ms()
            self.supervisor.register(TASK_TELEMETRY, interval_ms + _LATE_MS, now)
            state = self.pump.state(now)
            self.out(status_line(state))
            gc.collect()
            # the next line on the wall clock's grid of the interval (every hour on the hour), not an interval after
            # this one: late wake-ups (a loaded host, a sleep that overshoots) would push every later line further off
            await clock.sleep_ms(interval_ms - state.ms_of_day % interval_ms)

    def ble_look(self):
        """With a central connected, run the BLE task: it notifies what changed, at its bounded rate."""
        ble = self.ble
        if ble is not None and ble.conn is not None:
            ble.flag.set()

    def alarm_changed(self):
        """Wake the annunciator (an alarm was raised, cleared, acknowledged or silenced, or a button's beep ended),
        also out of a pattern's pause: a high alarm raised while a low one waits a minute between its pulses sounds at
        once."""
        self._alarm_bits = self.pump.alarms.active_bitmap
        self._alarm_changed.set()
        if self._pausing and self._annunciator is not None:
            self._interrupt = True
            self._annunciator.cancel()

    async def _pause(self, ms):
        """The annunciator's timed sleep; alarm_changed() ends it early (a cancel taken as a wake-up)."""
        self._pausing = True
        try:
            await self.hw.clock.sleep_ms(ms)
        except asyncio.CancelledError:
            if not self._interrupt:
                raise  # the app is stopping
        finally:
            self._pausing = False
            self._interrupt = False

    def _beeping(self):
        """A button's answer owns the buzzer: the annunciator leaves it alone meanwhile."""
        return self.button is not None and self.button.beeping

    async def annunciate(self):
        """Buzzer plays the sounding alarm's pattern, the LED is lit while any alarm is active; idle otherwise."""
        hw = self.hw
        clock = hw.clock
        alarms = self.pump.alarms
        buzzer = hw.buzzer
        led = hw.led
        while True:
            now = clock.ticks_ms()
            alarms.advance(now)
            self.ble_look()  # a silence may have ended: the alarm characteristic follows
            if led is not None:
                led.on() if alarms.active_bitmap else led.off()
            code = alarms.sounding(now)
            if code:
                on, wait_ms = tone_at(pattern(code), ticks_diff(now, alarms.since_ms[code]))
                if buzzer is not None and not self._beeping():
                    buzzer.tone(TONE_HZ) if on else buzzer.off()
                wait_ms = max(wait_ms, 1)
                self.supervisor.register(TASK_ANNUNCIATOR, wait_ms + _LATE_MS, now)  # a sounding alarm must go on
                await self._pause(wait_ms)
                continue
            if buzzer is not None and not self._beeping():
                buzzer.off()
            if alarms.next_deadline(now) is not None:  # silenced, or a repeat is due: keep an eye on it
                self.supervisor.register(TASK_ANNUNCIATOR, _SILENCED_POLL_MS + _LATE_MS, now)
                await self._pause(_SILENCED_POLL_MS)
                continue
            self.supervisor.unregister(TASK_ANNUNCIATOR)  # nothing to sound: it owes no wake-up
            self._alarm_changed.clear()
            await self._alarm_changed.wait()

    async def ble_events(self, svc):
        """BLE work as the stack reports events (commands, confirmations, pairing); waits for the next otherwise."""
        clock = self.hw.clock
        while True:
            svc.flag.clear()
            self._ble_wait = svc.run(clock.ticks_ms())
            if self._ble_wait >= 0:
                self._ble_timer.set()
            await svc.flag.wait()

    async def ble_timer(self, svc):
        """Wakes the BLE task when it asked to run again (status on change at its bounded rate, history bursts)."""
        clock = self.hw.clock
        while True:
            await self._ble_timer.wait()
            self._ble_timer.clear()
            if self._ble_wait < 0:
                continue
            wait_ms = max(self._ble_wait, 1)
            self.supervisor.register(TASK_BLE, wait_ms + _LATE_MS, clock.ticks_ms())
            await clock.sleep_ms(wait_ms)
            self.supervisor.unregister(TASK_BLE)
            svc.flag.set()

    async def run(self, run_for_ms=None):
        """Run every task; returns after run_for_ms of pump time, or raises the first task fault."""
        self.supervisor.register(TASK_TELEMETRY, self.config.status_interval_s * 1000 + _LATE_MS)  # silent till seen
        tasks = [
            asyncio.create_task(self._guard(TASK_DOSING, self.dosing())),
            asyncio.create_task(self._guard(TASK_TELEMETRY, self.telemetry())),
            asyncio.create_task(self._guard(TASK_ANNUNCIATOR, self.annunciate())),
        ]
        self._annunciator = tasks[2]
        if self.ble is not None:
            tasks.append(asyncio.create_task(self._guard(TASK_BLE, self.ble_events(self.ble))))
            tasks.append(asyncio.create_task(self._guard(TASK_BLE, self.ble_timer(self.ble))))
        if self.wired is not None:
            tasks.append(asyncio.create_task(self._guard(TASK_WIRED, self.wired.run())))
        if self.button is not None:
            tasks.append(asyncio.create_task(self._guard(TASK_BUTTON, self.button.run())))
        try:
            if run_for_ms is None:
                await asyncio.gather(*tasks)
            else:
                await self._until(run_for_ms, tasks)
        finally:
            self._annunciator = None  # stopping: a cancel now ends the annunciator, never wakes it
            self._interrupt = False
            for t in tasks:
                t.cancel()
            self.hw.stepper.disable()

    async def _until(self, run_for_ms, tasks):
        clock = self.hw.clock
        left = run_for_ms
        while left > 0:
            for t in tasks:
                if t.done():
                    t.result()  # re-raise the fault that ended a task
            before = clock.ticks_ms()
            await clock.sleep_ms(min(left, _UNTIL_CHECK_MS))
            left -= ticks_diff(clock.ticks_ms(), before)  # pump time slept, however long (an hour: within the horizon)
        self.out(status_line(self.pump.state(clock.ticks_ms())))
        self.pump.checkpoint(clock.ticks_ms())


def run(app):
    """Device and `make run` entry (board.start): run the app until the board's run time (if any) is over; a fault in
    a task resets the board (its alarm latched). Failures before this point are board.start's: the fail-safe."""
    hw = app.hw
    therapy = app.pump.therapy
    app.out("pump %s on %s: %s" % (_version(), hw.name, therapy.describe() if therapy else "no program"))
    try:
        asyncio.run(app.run(app.run_for_ms))
    except Exception as e:  # noqa: BLE001
        app.out("fault: %r" % (e,))
        hw.reset()
    return app


def _version():
    from pump import VERSION

    return VERSION
