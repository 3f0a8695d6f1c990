"""The patient's bolus button in the asyncio app on the simulated board, in virtual pump time: a bouncing press asks
for the programmed patient bolus once, under the BLE command's lockout and daily maximum, logged either way, answered
by a short beep that differs for granted and refused; a held button asks once; an alarm's pattern goes on after."""

import asyncio

import pump.app
from board.sim import build
from board.sim.clock import SimRtc, VirtualClock
from board.sim.plant import Plant
from board.sim.roles import SimButton
from support.flash import FakeStorage
from pump import events as ev
from pump.alarms import TONE_HZ
from pump.button import BEEP_GRANTED, BEEP_REFUSED, DEBOUNCE_MS
from pump.compat import TICKS_MASK
from pump.errors import E_LOCKOUT
from pump.eventlog import decode
from support.apprig import CheapGc as _Gc
from support.apprig import new_app as _new_app
from support.plan import MONDAY_S

MINUTE_MS = 60000
SETUP = {
    "fill_ul": 20000,
    "prescription": {
        "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {"mode": "constant", "dose_ug_per_day": 4000},
        "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4},
    },
}


def _app(monkeypatch, storage=None, clock=None):
    monkeypatch.setattr(pump.app, "gc", _Gc)
    clock = clock or VirtualClock(TICKS_MASK - 1800000)
    hw = build({"clock": clock, "plant": Plant(fill_ul=20000), "storage": storage or FakeStorage(),
                "rtc": SimRtc(clock, MONDAY_S)})
    assert isinstance(hw.button, SimButton)  # the simulated board has the role, as a board with the pin wired
    return _new_app(hw, lambda line: None, setup=SETUP), clock, hw


def _beeps(buzzer, since_ms):
    """(freq, [on durations]) of the tones after `since_ms`."""
    tones = [(t, f) for t, f in buzzer.changes if t >= since_ms]
    out = []
    for (t, f), (t2, _f2) in zip(tones, tones[1:]):
        if f:
            out.append((f, t2 - t))
    return out


def _bolus_events(app):
    records = [decode(bytes(app.hw.storage.read(name)[i:i + 24])) for name in ("log.0", "log.1")
               if app.hw.storage.read(name) for i in range(0, len(app.hw.storage.read(name)), 24)]
    return [(r[2], r[3], r[4]) for r in records if r and r[2] in (ev.BOLUS_GRANTED, ev.BOLUS_REFUSED)]


def test_a_bouncing_press_is_one_bolus_a_second_inside_the_lockout_is_refused_with_another_beep(monkeypatch):
    app, clock, hw = _app(monkeypatch)
    button = hw.button

    async def press(hold_ms, bounce=True):
        if bounce:
            for down in (True, False, True, False, True):  # 4 ms of contact bounce
                button.level(down)
                await clock.sleep_ms(1)
        else:
            button.level(True)
        await clock.sleep_ms(hold_ms)
        for down in (False, True, False):
            button.level(down)
            await clock.sleep_ms(1)

    async def scenario():
        task = asyncio.create_task(app.run(4 * 60 * MINUTE_MS))
        await clock.sleep_ms(MINUTE_MS)
        first = clock.t_ms
        await press(300)
        await clock.sleep_ms(MINUTE_MS)
        second = clock.t_ms
        await press(200)
        await clock.sleep_ms(MINUTE_MS)
        held = clock.t_ms
        await press(30 * MINUTE_MS, bounce=False)  # held down for half an hour: one request
        await task
        return first, second, held

    first, second, held = asyncio.run(scenario())
    assert _bolus_events(app) == [(ev.BOLUS_GRANTED, 100000, ev.BOLUS_PATIENT),
                                  (ev.BOLUS_REFUSED, E_LOCKOUT, ev.BOLUS_PATIENT),
                                  (ev.BOLUS_REFUSED, E_LOCKOUT, ev.BOLUS_PATIENT)]
    beeps = [b for b in _beeps(hw.buzzer, first) if b[0] != TONE_HZ]  # beside the low alarm's pattern (no sensor)
    granted = (BEEP_GRANTED[0], BEEP_GRANTED[1][0])
    refused = [(BEEP_REFUSED[0], BEEP_REFUSED[1][0]), (BEEP_REFUSED[0], BEEP_REFUSED[1][2])]
    assert beeps == [granted] + refused + refused
    first_tone = next(t for t, f in hw.buzzer.changes if t >= first and f == BEEP_GRANTED[0])
    # counted once the contact held still for a whole debounce time (the app sees bounces when it looks: <= 2 x)
    assert 4 + DEBOUNCE_MS <= first_tone - first <= 4 + 2 * DEBOUNCE_MS
    assert app.fault is None and len(app.pump.policy.grants_mono_s) == 1


def test_the_simulated_button_works_again_after_a_reset_in_a_new_event_loop(monkeypatch):
    # the simulated board outlives its app: a reset runs the next app in a new asyncio loop (CPython binds an Event to
    # the loop it first waits in), and the button must still be heard there, not end in a task fault
    storage = FakeStorage()
    app, clock, hw = _app(monkeypatch, storage)
    asyncio.run(app.run(MINUTE_MS))  # the button task waited in this loop
    again = _new_app(hw, lambda line: None, setup=None)
    assert again.button is not None and again.pump.therapy is not None

    async def scenario():
        task = asyncio.create_task(again.run(10 * MINUTE_MS))
        await clock.sleep_ms(MINUTE_MS)
        hw.button.level(True)
        await clock.sleep_ms(500)
        hw.button.level(False)
        await task

    asyncio.run(scenario())
    assert again.fault is None
    assert _bolus_events(again) == [(ev.BOLUS_GRANTED, 100000, ev.BOLUS_PATIENT)]
    assert build({"bolus_button": False}).button is None  # a board without one: the role is None, no task
