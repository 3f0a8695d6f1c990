"""The asyncio app on the simulated board in virtual pump time (board.sim.VirtualClock): event-driven dosing (one
wake per step or boundary, no polling), and a fault in any task disables the motor before anything else, then logs
TASK_FAULT, and no step follows.
"""

import asyncio

import pytest

import pump.app
from board.sim import build
from board.sim.clock import SimRtc, VirtualClock
from board.sim.plant import Plant
from board.sim.roles import SimStepper
from pump import alarms as al
from pump import events as ev
from pump.alarms import A_TASK_FAULT
from pump.app import TASK_DOSING, TASK_TELEMETRY, App
from pump.compat import TICKS_MASK
from pump.errors import E_RANGE, PumpError
from pump.eventlog import RECORD_SIZE, decode
from support.apprig import LIBRARY, SETUP, CheapGc, new_app
from support.flash import FakeStorage
from support.plan import MONDAY_S

HOUR_MS = 3600000


class Trace:
    """One list of what happened, in order: motor calls and event-log records."""

    def __init__(self):
        self.items = []


class TracingStorage(FakeStorage):
    """FakeStorage that puts every event-log record it stores into the trace, as ("log", code)."""

    def __init__(self, trace):
        super().__init__()
        self.trace = trace

    def _note(self, name, data):
        if name.startswith("log.") and len(data) == RECORD_SIZE:
            rec = decode(bytes(data))
            if rec is not None:
                self.trace.items.append(("log", rec[2]))

    def write(self, name, data):
        super().write(name, data)
        self._note(name, data)

    def append(self, name, data):
        super().append(name, data)
        self._note(name, data)


class TracingStepper(SimStepper):
    """SimStepper that traces its calls (with pump time) and fails with `fault` on call number `fail_on`."""

    def __init__(self, plant, clock, trace, fail_on=None, fault=None):
        super().__init__(plant)
        self.clock = clock
        self.trace = trace
        self.fail_on = fail_on
        self.fault = fault
        self.step_times = []

    def step_forward(self, n=1):
        if self.fail_on is not None and self.calls + 1 == self.fail_on:
            self.enabled = True  # as a driver would be, part way through the pulses
            self.calls += 1
            self.trace.items.append(("fault", self.clock.t_ms))
            raise self.fault
        super().step_forward(n)
        self.step_times.append(self.clock.t_ms)
        self.trace.items.append(("step", n))

    def disable(self):
        super().disable()
        self.trace.items.append(("disable",))


@pytest.fixture(autouse=True)
def _cheap_gc(monkeypatch):
    monkeypatch.setattr(pump.app, "gc", CheapGc)


def _app(fail_on=None, fault=None, setup=SETUP, wall_s=MONDAY_S - HOUR_MS // 1000, out=None, pump_config=None):
    clock = VirtualClock(TICKS_MASK - 1800000)  # the ticks wrap half an hour in
    trace = Trace()
    plant = Plant(fill_ul=setup["fill_ul"] if setup else 0)
    hw = build({"clock": clock, "plant": plant, "storage": TracingStorage(trace), "rtc": SimRtc(clock, wall_s)})
    hw.stepper = TracingStepper(plant, clock, trace, fail_on, fault)
    lines = []
    app = new_app(hw, out or lines.append, pump_config, setup)
    return app, clock, trace, lines


def _run(app, clock, run_ms):
    start = clock.t_ms
    asyncio.run(app.run(run_ms))
    assert clock.t_ms - start == run_ms


def test_dosing_wakes_once_per_step_or_boundary():
    app, clock, trace, lines = _app()
    _run(app, clock, 2 * HOUR_MS)
    stepper = app.hw.stepper
    steps = stepper.step_times
    assert len(steps) > 150
    assert all(x[1] == 1 for x in trace.items if x[0] == "step")  # one step per wake
    # boundaries: midnight (with the 00:00 schedule step) 1 h in, the 00:30 step 1.5 h in
    boundaries = {HOUR_MS, HOUR_MS + 1800000}
    assert not boundaries & set(steps)
    assert app.wakeups == 1 + len(steps) + len(boundaries)  # the first wake at the start, then only deadlines
    # the programmed volume: 0.5999 mL/day 23:00-00:00, 0.4321 mL/day to 00:30, 0.5999 mL/day to 01:00 (46.5 uL)
    ideal_nl_x24 = 599900 * 3 // 2 + 432100 // 2
    assert len(steps) == ideal_nl_x24 // (24 * 200) == 232
    assert app.pump.plan.cal.day == MONDAY_S // 86400
    assert len(lines) in (3, 4)  # telemetry at 0, 1 h (and 2 h, as the run ends), and the final status line
    # the watchdog is fed on every dosing wake-up, and at least every 4 s between steps (half its 8 s timeout)
    wd = app.hw.watchdog
    assert wd.longest_gap_ms <= pump.app.FEED_MS
    assert 2 * HOUR_MS // pump.app.FEED_MS <= wd.feeds <= 2 * HOUR_MS // pump.app.FEED_MS + app.wakeups
    assert app.fault is None and not stepper.enabled


def test_without_a_program_the_dosing_task_wakes_only_at_midnight_and_for_the_hourly_battery_sample():
    app, clock, trace, lines = _app(setup=None)
    assert app.pump.therapy is None
    _run(app, clock, 2 * 24 * HOUR_MS)
    assert app.hw.stepper.step_times == []
    assert app.wakeups == 2 * 24  # every hour (midnight falls on a sample)


@pytest.mark.parametrize("fault", [ValueError("driver"), PumpError(E_RANGE, "n")])
def test_stepper_fault_disables_the_motor_before_logging(fault):
    app, clock, trace, lines = _app(fail_on=40, fault=fault)
    with pytest.raises(type(fault)):
        _run(app, clock, 2 * HOUR_MS)
    items = trace.items
    i_fault = [x[0] for x in items].index("fault")
    i_disable = items.index(("disable",), i_fault)
    i_log = items.index(("log", ev.TASK_FAULT))
    assert i_fault < i_disable < i_log  # the motor is off before anything is written
    assert not any(x[0] == "step" for x in items[i_fault:])  # and never ran again
    assert not app.hw.stepper.enabled
    assert app.fault[0] == TASK_DOSING and app.fault[1] is fault
    recs = [r[2:] for r in app.pump.log.latest(3)]
    assert (ev.TASK_FAULT, TASK_DOSING, getattr(fault, "code", 0)) in recs
    assert len(app.hw.stepper.step_times) == 39


def test_a_task_fault_alarm_outlives_the_reset_and_dosing_resumes_without_catch_up():
    app, clock, trace, lines = _app(fail_on=40, fault=ValueError("driver"))
    with pytest.raises(ValueError):
        _run(app, clock, 2 * HOUR_MS)
    assert app.pump.safety.alarms.is_active(A_TASK_FAULT)
    hw = app.hw
    clock.t_ms += 60000  # the reset
    hw.stepper = SimStepper(hw.plant)
    again = new_app(hw, lines.append)
    alarms = again.pump.safety.alarms
    assert alarms.is_active(A_TASK_FAULT) and alarms.sounding(clock.ticks_ms()) == A_TASK_FAULT
    assert again.pump.plan.running  # a fault alarm, not a hold: the pump doses on
    _run(again, clock, HOUR_MS)
    assert 0 < hw.stepper.calls <= HOUR_MS // 28800 + 1  # the program's pace, no catch-up of the lost minute
    assert again.pump.acknowledge(A_TASK_FAULT) == 1
    third = new_app(hw, lines.append)  # acknowledged before the next reset: gone for good
    assert not third.pump.safety.alarms.is_active(A_TASK_FAULT)


def _console_fails_on_the_second_line():
    """An app whose console raises OSError on its second status line (1234 s in), run until that fault."""
    calls = []

    def out(line):
        calls.append(line)
        if len(calls) == 2:
            raise OSError("console gone")

    app, clock, trace, lines = _app(out=out, pump_config={"status_interval_s": 1234})
    with pytest.raises(OSError):
        _run(app, clock, 3 * HOUR_MS)
    return app, trace.items


def test_telemetry_fault_also_stops_the_motor_first():
    app, items = _console_fails_on_the_second_line()
    i_log = items.index(("log", ev.TASK_FAULT))
    assert ("disable",) in items[:i_log]
    assert app.fault[0] == TASK_TELEMETRY
    assert (ev.TASK_FAULT, TASK_TELEMETRY, 0) in [r[2:] for r in app.pump.log.latest(3)]
    assert 0 < len(app.hw.stepper.step_times) <= 1234000 // 28800 + 1  # dosing ran until the fault


def test_no_step_after_a_fault_in_another_task():
    # When a task other than dosing faults, the dosing task may run on until the app notices (with run_for_ms: at
    # _until's next 60 s poll); it must not step the motor again after the safe state.
    app, items = _console_fails_on_the_second_line()
    i_log = items.index(("log", ev.TASK_FAULT))
    assert [x for x in items[i_log:] if x[0] == "step"] == []


def test_virtual_clock_concurrent_sleeps_overlap():
    # Concurrent sleeps in virtual time overlap (they do not add up), and each wakes at its own time.
    clock = VirtualClock()
    woke = []

    async def sleeper(ms):
        await clock.sleep_ms(ms)
        woke.append((ms, clock.t_ms))

    async def all_of_them():
        await asyncio.gather(sleeper(1000), sleeper(1000), sleeper(250))

    asyncio.run(all_of_them())
    assert clock.t_ms == 1000
    assert woke == [(250, 250), (1000, 1000), (1000, 1000)]


def test_a_stall_sounds_the_high_priority_pattern_lights_the_led_and_ack_silences_it():
    app, clock, trace, lines = _app()
    hw = app.hw
    hw.stepper = SimStepper(hw.plant)  # the plain driver: the jam is the plant's, the encoder sees no movement
    app.pump._step = hw.stepper.step_forward

    async def scenario():
        task = asyncio.create_task(app.run(3 * HOUR_MS))
        await clock.sleep_ms(HOUR_MS)
        app.pump.acknowledge(0)  # the low-priority "no pressure sensor" alarm of this board
        jam_ms = clock.t_ms
        hw.plant.jammed = True
        await clock.sleep_ms(HOUR_MS // 2)
        stalled = [c for c in hw.buzzer.changes if c[0] > jam_ms], hw.led.lit
        app.pump.acknowledge(0)
        await task
        return stalled

    (changes, lit) = asyncio.run(scenario())
    assert app.pump.safety.alarms.highest() == 6  # MOTOR_STALL, still active: the jam persists
    assert lit
    # the high-priority pattern: 5 pulses, then the repeat period
    ons = [t for t, f in changes if f]
    assert len(ons) >= 5
    period = pump.app.pattern(6)[-1]
    assert ons[5] - ons[0] == period
    # acknowledged: no new tone starts after the acknowledgement's pattern step ends
    later = [t for t, f in hw.buzzer.changes if f and t > clock.t_ms - HOUR_MS]
    assert later == []


def test_watchdog_starves_when_the_dosing_task_hangs():
    app, clock, trace, lines = _app()
    _run(app, clock, 60000)
    fed = app.hw.watchdog.feeds
    assert app.hw.watchdog.timeout_ms == 8000
    assert fed >= 60000 // pump.app.FEED_MS
    app.dosing = _hung  # the feeder never runs again
    _run(app, clock, 60000)
    assert app.hw.watchdog.feeds == fed  # starved: the hardware resets the board


def test_watchdog_is_fed_only_while_every_task_that_owes_a_wake_up_checks_in():
    # the console task owes one every status interval (1 h here): hung, it stops the feeding 5 s after that
    app, clock, trace, lines = _app()
    app.telemetry = _hung
    _run(app, clock, HOUR_MS)
    wd = app.hw.watchdog
    assert wd.feeds == 0  # it never checked in: the supervisor counts it as silent from the start
    app2, clock2, _t, lines2 = _app(out=[].append)
    app2.telemetry = lambda: _first_line_then_hang(app2)  # the real task prints its line at 0, then hangs
    _run(app2, clock2, 2 * HOUR_MS)
    wd = app2.hw.watchdog
    # fed every <= 4 s until its window (3600 s + 5 s after its check-in) ran out, never after
    assert HOUR_MS // pump.app.FEED_MS <= wd.feeds <= (HOUR_MS + pump.app._LATE_MS) // 1000
    assert app2.supervisor.overdue(clock2.ticks_ms()) == TASK_TELEMETRY


async def _first_line_then_hang(app):
    task = asyncio.create_task(App.telemetry(app))
    await asyncio.sleep(0)
    task.cancel()
    await _hung()


async def _hung():
    await asyncio.Event().wait()


def _reboot(app, clock, library_path=LIBRARY):
    """A reset of `app`'s board: a new App on the same storage, plant and clock."""
    old = app.hw
    hw = build({"clock": clock, "plant": old.plant, "storage": old.storage, "rtc": old.rtc})
    lines = []
    return new_app(hw, lines.append, library_path=library_path), lines


def test_without_its_drug_library_the_pump_doses_on_and_the_user_hears_the_alarm():
    app, clock, _trace, _lines = _app()
    _run(app, clock, HOUR_MS)
    app, lines = _reboot(app, clock, "/nonexistent/druglib.json")
    steps = app.hw.plant.steps_forward
    _run(app, clock, HOUR_MS)
    assert app.hw.plant.steps_forward - steps >= 17  # 0.4321 mL/day from 23:00: about 18 steps an hour
    assert lines[0].startswith("drug library unavailable: E401 storage failure: druglib: cannot read")
    medium = pump.app.pattern(al.A_DRUG_LIBRARY_FAULT)
    ons = [t for t, f in app.hw.buzzer.changes if f]
    assert medium == al.PATTERN[al.PRIO_MEDIUM] and len(ons) >= 3 * 150  # 3 pulses every 20 s for an hour
    assert app.pump.safety.alarms.sounding(clock.ticks_ms()) == al.A_DRUG_LIBRARY_FAULT


def test_a_lost_program_is_an_alarm_never_a_fresh_first_set_up():
    app, clock, _trace, _lines = _app()
    _run(app, clock, HOUR_MS)
    for name in ("prog.a", "prog.b"):
        app.hw.storage.remove(name)
    app, _lines = _reboot(app, clock)
    assert app.pump.therapy is None and app.pump.safety.alarms.is_active(al.A_PROGRAM_FALLBACK)
