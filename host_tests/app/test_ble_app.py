"""The BLE service inside the asyncio app, on the simulated board with the fake radio, in virtual pump time: the
task sleeps while no central is connected, notifies the status on change no faster than once per interval while one
is, answers commands as their frames arrive, and advertises again after a disconnect."""

import asyncio
import json

import pytest

import pump.app
from board.sim import build
from board.sim import radio as bluetooth
from board.sim.clock import SimRtc, VirtualClock
from board.sim.plant import Plant
from support.flash import FakeStorage
from pump.cmdauth import ROLE_CLINICIAN
from pump.commands import OP_SUSPEND
from pump.compat import TICKS_MASK
from pump.frames import split
from support.apprig import SETUP, CheapGc, new_app
from pump import session as ss
from pump.frames import DONE, Reassembler
from pump.seal import STREAM_COMMAND
from support.aes import new_ecb
from support.blebench import Bench
from support.keys import KC, KEY_DOC, command
from support.plan import MONDAY_S


MINUTE_MS = 60000


class TimedRadio(bluetooth.BLE):
    """The fake radio noting the pump time of every status notification."""

    def __init__(self, clock, profile=None):
        super().__init__(profile)
        self.clock = clock
        self.status_times = []
        self.h_status = None

    def gatts_notify(self, conn, handle, data=None):
        super().gatts_notify(conn, handle, data)
        if handle == self.h_status and data is not None and data[0] & 0x80:  # the last frame of a status
            self.status_times.append(self.clock.t_ms)


def _app(keys_path, monkeypatch, profile=None):
    monkeypatch.setattr(pump.app, "gc", CheapGc)
    clock = VirtualClock(TICKS_MASK - 1800000)
    radio = TimedRadio(clock, profile)
    hw = build({"clock": clock, "plant": Plant(fill_ul=SETUP["fill_ul"]), "storage": FakeStorage(),
                "rtc": SimRtc(clock, MONDAY_S), "ble": radio, "bluetooth": bluetooth, "keys_path": keys_path,
                "urandom": lambda n: bytes(range(7, 7 + n)), "aes": new_ecb})
    lines = []
    app = new_app(hw, lines.append)
    radio.h_status = app.ble.h_status
    runs = []
    real_run = app.ble.run

    def counted_run(now):
        runs.append(clock.t_ms)
        return real_run(now)

    app.ble.run = counted_run
    return app, clock, radio, lines, runs


async def _exchange(radio, svc, clock, msg):
    """One handshake message written to the Session characteristic of the app's service; the pump's answer."""
    n = len(radio.of(svc.h_session, "indicated"))
    for frame in split(msg, 1):
        radio.write(svc.h_session, frame)
    r = Reassembler(64)
    for _ in range(20):
        await clock.sleep_ms(10)
        for frame in radio.of(svc.h_session, "indicated")[n:]:
            n += 1
            radio.indicate_done()
            if r.feed(frame) == DONE:
                return bytes(r.buf[: r.n])
    raise AssertionError("no answer on the Session characteristic")


async def _open_session(radio, svc, clock):
    central = ss.CentralSession(KC, ROLE_CLINICIAN, new_ecb)
    challenge = await _exchange(radio, svc, clock, central.hello(bytes(16)))
    central.established(await _exchange(radio, svc, clock, central.confirm(challenge)))
    return central


@pytest.mark.parametrize("profile", bluetooth.PROFILES)
def test_the_app_serves_ble_at_a_bounded_rate_and_sleeps_without_a_central(tmp_path, monkeypatch, profile):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEY_DOC))
    app, clock, radio, lines, runs = _app(str(keys), monkeypatch, profile)
    assert not [x for x in lines if "keys" in x]
    assert lines.count("BLE: secure session over LESC bonding" if radio.pairing
                       else "BLE: secure session; link pairing unavailable (BTstack)") == 1
    svc = app.ble

    async def scenario():
        task = asyncio.create_task(app.run(4 * 60 * MINUTE_MS))
        await clock.sleep_ms(60 * MINUTE_MS)
        idle_runs = len(runs)
        radio.connect()
        if radio.pairing:
            radio.encrypt(authenticated=True)
        central = await _open_session(radio, svc, clock)
        for _ in range(30):  # ten minutes with a phone that confirms what it is sent
            await clock.sleep_ms(20000)
            if svc.outbox.inflight is not None:
                radio.indicate_done()
        connected_runs = len(runs) - idle_runs
        for frame in split(central.seal(STREAM_COMMAND, command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)), 1):
            radio.write(svc.h_command, frame)
        r = Reassembler(256)
        for _ in range(10):
            await clock.sleep_ms(10)
            if r.feed(radio.of(svc.h_command, "indicated")[-1]) == DONE:
                break
            radio.indicate_done()
        suspended = app.pump.suspended
        answer = Bench.answer(central.open(STREAM_COMMAND, bytes(r.buf[: r.n])))
        radio.indicate_done()
        radio.disconnect()
        runs_at_disconnect = len(runs)
        await clock.sleep_ms(60 * MINUTE_MS)
        after = len(runs) - runs_at_disconnect
        await task
        return idle_runs, connected_runs, suspended, answer, after

    idle_runs, connected_runs, suspended, answer, after = asyncio.run(scenario())
    assert idle_runs == 1  # once at the start, then asleep for the hour without a central
    times = radio.status_times
    assert 10 <= len(times) <= 600 and all(b - a >= 1000 for a, b in zip(times, times[1:]))
    assert connected_runs <= 2 * 600 + 60  # about one run per status interval, and one per event
    assert suspended and answer[:3] == (OP_SUSPEND, 0, 1)
    assert len(radio.adverts) == 2 and after <= 2  # advertising again, and asleep again
    assert app.fault is None


def test_without_keys_the_app_says_so(monkeypatch):
    app, clock, radio, lines, runs = _app(None, monkeypatch)
    assert "no keys: no BLE session opens (no telemetry, no commands over BLE); status on the console" in lines
    assert app.ble.auth.keys is None


def test_an_unusable_keys_file_is_reported_without_its_content(tmp_path, monkeypatch):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"clinician": KEY_DOC["clinician"], "patient": KEY_DOC["clinician"]}))
    app, clock, radio, lines, runs = _app(str(keys), monkeypatch)
    assert any("keys unusable" in x for x in lines) and app.ble.auth.keys is None
    assert not any(KEY_DOC["clinician"] in x for x in lines)


def test_a_board_without_a_radio_has_no_ble_task(monkeypatch):
    monkeypatch.setattr(pump.app, "gc", CheapGc)
    clock = VirtualClock()
    hw = build({"clock": clock, "plant": Plant(fill_ul=1000), "storage": FakeStorage()})
    assert hw.ble is None
    app = new_app(hw, lambda line: None, setup=None)
    assert app.ble is None
    asyncio.run(app.run(MINUTE_MS))
    assert app.fault is None


def test_a_stack_without_pairing_still_serves_ble_on_the_session_alone(monkeypatch):
    """Before the secure session, BTstack's refusal of the pairing settings turned BLE off ("BLE unavailable")."""
    monkeypatch.setattr(pump.app, "gc", CheapGc)
    clock = VirtualClock()
    radio = bluetooth.BLE(bluetooth.BTSTACK)
    hw = build({"clock": clock, "plant": Plant(fill_ul=SETUP["fill_ul"]), "storage": FakeStorage(),
                "rtc": SimRtc(clock, MONDAY_S), "ble": radio, "bluetooth": bluetooth, "aes": new_ecb})
    lines = []
    app = new_app(hw, lines.append)
    assert app.ble is not None and radio.is_active and not app.ble.pairing
    assert "BLE: secure session; link pairing unavailable (BTstack)" in lines
    assert not any(x.startswith("BLE unavailable") for x in lines)


def test_a_radio_that_fails_to_start_leaves_the_pump_dosing_without_ble(monkeypatch):
    monkeypatch.setattr(pump.app, "gc", CheapGc)

    class Refusing(bluetooth.BLE):
        def gatts_register_services(self, services):
            raise OSError(12)  # ENOMEM: the stack's attribute table is full

    clock = VirtualClock()
    radio = Refusing()
    hw = build({"clock": clock, "plant": Plant(fill_ul=SETUP["fill_ul"]), "storage": FakeStorage(),
                "rtc": SimRtc(clock, MONDAY_S), "ble": radio, "bluetooth": bluetooth, "aes": new_ecb})
    lines = []
    app = new_app(hw, lines.append)
    assert app.ble is None and not radio.is_active
    assert any(x.startswith("BLE unavailable: OSError") for x in lines)
    asyncio.run(app.run(10 * MINUTE_MS))
    assert app.fault is None and app.hw.stepper.calls > 0
