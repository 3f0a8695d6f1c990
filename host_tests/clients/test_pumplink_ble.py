"""The programmer's BLE link against the firmware's own BLE service, in the clinician's secure session
(tools/pumplink/secure.py): first on the recording fake radio (frames, counters, refusals, MTU), then over Bumble's
real ATT/SMP stack with passkey pairing underneath (the ESP32's second layer), driven through the programmer's
command line."""

import asyncio
import json
import os
import re

import pytest

from board import sim as simboard
from board.sim import radio as fakeble
from board.sim.clock import ScaledClock, SimRtc, VirtualClock
from board.sim.flash import FakeStorage
from board.sim.plant import Plant
from pump.app import App, load_library
from pump.config import PumpConfig
from pump.errors import E_AUTH, E_HARD_LIMIT, E_INSECURE, PumpError
from tools.keys import keys
from tools.programmer import programmer
from tools.pumplink import proto as pp
from tools.pumplink.ble import BleLink, CentralGatt, PumpClient, encode
from tools.pumplink.link import LinkError, LocalLink
from tools.pumplink.secure import secure
from tools.pumplink.session import ROLE_CLINICIAN, Session, new_ecb
from support import ROOT

LIBRARY = os.path.join(ROOT, "lib", "druglib.json")
RX = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
      "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 4000},
                                            {"start": "08:00", "dose_ug_per_day": 6000}]},
      "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}


def _pump_board(keys_path, ble, bluetooth, clock=None):
    """A simulated board (no program yet) with a BLE radio and the keys file; returns (hw, clock)."""
    clock = clock or VirtualClock()
    hw = simboard.build({"clock": clock, "plant": Plant(), "storage": FakeStorage(), "rtc": SimRtc(clock), "ble": ble,
                         "bluetooth": bluetooth, "keys_path": keys_path, "aes": new_ecb})
    return hw, clock


def _app(hw, out):
    """The app on `hw` as board.start builds it: default configuration, the repository's library, no set-up."""
    return App(hw, PumpConfig(), load_library(LIBRARY, out), out=out)


class RadioGatt:
    """The GATT seam straight onto the firmware's service on the recording fake radio: a write runs the service
    and confirms each indication, as a central's stack would."""

    def __init__(self, radio, service, clock, frame_size=20):
        self.radio, self.service, self.clock, self.frame_size = radio, service, clock, frame_size
        self.queues = {}
        self.writes = 0
        self._seen = 0

    async def read(self, uuid):
        self._serve()
        status, value = self.radio.read(self.radio.handle(uuid))
        assert status == 0
        return value

    async def write(self, uuid, data):
        assert len(data) <= self.frame_size
        self.writes += 1
        self.radio.write(self.radio.handle(uuid), data)
        self._serve()

    async def subscribe(self, uuid):
        self.queues.setdefault(self.radio.handle(uuid), asyncio.Queue())

    async def receive(self, uuid, timeout_s):
        return await asyncio.wait_for(self.queues[self.radio.handle(uuid)].get(), timeout_s)

    def pending(self, uuid):
        q = self.queues.get(self.radio.handle(uuid))
        return [q.get_nowait() for _ in range(q.qsize())] if q is not None else []

    async def close(self):
        self.radio.disconnect()

    def _serve(self):
        while True:
            self.service.run(self.clock.ticks_ms())
            new = self.radio.indicated[self._seen:]
            if not new:
                return
            self._seen = len(self.radio.indicated)
            for _conn, handle, data in new:
                q = self.queues.get(handle)
                if q is not None:
                    q.put_nowait(data)
                self.radio.indicate_done()


@pytest.fixture
def rig(tmp_path):
    """(app, gatt, clinician key, patient key) with a paired (MITM) central connected at MTU 23 and the clinician's
    secure session open on it (the seam seals and opens: tools/pumplink/secure.py)."""
    path = str(tmp_path / "keys.json")
    keys.create(path)
    k = keys.load(path)
    radio = fakeble.BLE()
    hw, clock = _pump_board(path, radio, fakeble)
    app = _app(hw, lambda line: None)
    radio.connect()
    radio.encrypt(authenticated=True)
    gatt = asyncio.run(secure(RadioGatt(radio, app.ble, clock), Session(k["clinician"], ROLE_CLINICIAN)))
    gatt.clock = clock
    return app, gatt, k["clinician"], k["patient"]


def _run(coro):
    return asyncio.run(coro)


def test_a_clinician_session_over_the_service_matches_the_local_link(rig):
    app, gatt, key, _ = rig
    client = PumpClient(gatt, key, counter=1000)

    async def session():
        await client.command("refill", {"fill_ul": 20000, "concentration_ug_per_ml": 10000})
        await client.command("program", {"prescription": RX})
        return await client.status()

    st = _run(session())
    assert st["mode_name"] == "flex" and st["state_name"] == "running" and st["reservoir_nl"] == 20000000
    local = LocalLink(app.pump, gatt.clock.ticks_ms).call("status")
    assert {k: v for k, v in st.items() if k != "features"} == local  # the same fields, the same values
    assert st["features"]["nl_per_step"] == 200 and st["features"]["keys"] is True
    # a program of ~300 bytes went out as 20-byte frames, each written with a response
    assert gatt.gatt.writes > 20
    assert app.pump.therapy.describe().startswith("morphine 10000 ug/mL flex 2 steps")


def test_larger_frames_after_an_mtu_exchange(rig):
    app, gatt, key, _ = rig
    gatt.gatt.radio.exchange_mtu(247)
    gatt.frame_size = 244
    client = PumpClient(gatt, key, counter=5)
    _run(client.command("refill", {"fill_ul": 20000, "concentration_ug_per_ml": 10000}))
    before = gatt.gatt.writes
    _run(client.command("program", {"prescription": RX}))
    assert gatt.gatt.writes - before == 2  # ~300 bytes and the seal's 21 in 244-byte frames
    assert app.pump.therapy is not None


def test_refusals_come_back_with_the_pumps_code_and_reason(rig):
    app, gatt, key, _ = rig
    client = PumpClient(gatt, key, counter=10)
    with pytest.raises(PumpError) as e:
        _run(client.command("prime", {}))  # no fill yet
    assert e.value.code == 304 and e.value.detail == "volume_ul"
    _run(client.command("refill", {"fill_ul": 20000, "concentration_ug_per_ml": 10000}))
    bad = json.loads(json.dumps(RX))
    bad["therapy"] = {"mode": "constant", "dose_ug_per_day": 25000}
    with pytest.raises(PumpError) as e:
        _run(client.command("program", {"prescription": bad}))
    assert e.value.code == E_HARD_LIMIT and e.value.detail.startswith("therapy.dose_ug_per_day:")
    assert app.pump.therapy is None  # nothing changed


def test_a_stale_counter_is_resynchronised_once(rig):
    app, gatt, key, _ = rig
    first = PumpClient(gatt, key, counter=500)
    _run(first.command("suspend", {}))
    second = PumpClient(gatt, key, counter=100)  # a host whose clock is behind the last accepted counter
    reply = _run(second.command("resume", {}))
    assert reply["result"] == 0 and second.counter == 502  # 100 refused (E501), then 501 accepted
    assert app.ble.auth.last_counter(pp.ROLE_CLINICIAN) == 501


def test_a_counter_too_far_ahead_is_resynchronised_once(rig):
    # the link starts from the host clock (seconds since 2000, about 8.4e8): far more than 2**16 above a pump's
    # counter, so the first command is refused (E507) and signed again just above the pump's counter
    app, gatt, key, _ = rig
    _run(PumpClient(gatt, key, counter=500).command("suspend", {}))
    late = PumpClient(gatt, key)
    assert late.counter > 500 + 0x10000
    reply = _run(late.command("resume", {}))
    assert reply["result"] == 0 and late.counter == 502
    assert app.ble.auth.last_counter(pp.ROLE_CLINICIAN) == 501


def test_the_wrong_key_or_role_is_refused(rig):
    app, gatt, key, patient = rig
    with pytest.raises(PumpError) as e:
        _run(PumpClient(gatt, bytes(32), counter=7).command("suspend", {}))
    assert e.value.code == E_AUTH
    with pytest.raises(PumpError) as e:  # a patient key signing a clinician command, under the clinician role
        _run(PumpClient(gatt, patient, counter=8).command("suspend", {}))
    assert e.value.code == E_AUTH
    assert not app.pump.suspended


def test_commands_need_a_mitm_protected_link(tmp_path):
    path = str(tmp_path / "keys.json")
    keys.create(path)
    radio = fakeble.BLE()
    hw, clock = _pump_board(path, radio, fakeble)
    app = _app(hw, lambda line: None)
    radio.connect()
    radio.encrypt(authenticated=False)  # Just Works
    with pytest.raises(PumpError) as e:
        _run(PumpClient(RadioGatt(radio, app.ble, clock), keys.load(path)["clinician"], counter=3).command(
            "suspend", {}))
    assert e.value.code == E_INSECURE


def test_no_answer_is_a_link_error(rig):
    app, gatt, key, _ = rig
    gatt.gatt.queues.clear()

    async def silent(uuid, timeout_s):
        await asyncio.sleep(timeout_s)
        raise asyncio.TimeoutError

    gatt.receive = silent
    with pytest.raises(LinkError, match=r"no answer from the pump within 0\.05 s"):
        _run(PumpClient(gatt, key, counter=3, timeout_s=0.05).command("suspend", {}))


def test_parameters_are_the_firmwares_layouts():
    op, data = encode("bolus", {"dose_ug": 12.5, "duration_min": 30, "confirm_soft": True})
    assert op == pp.OP_CLINICIAN_BOLUS and data == (12500).to_bytes(4, "little") + (30).to_bytes(2, "little") + b"\x01"
    not_measured = b"\xff\xff\xff\xff"
    fill = (20000).to_bytes(4, "little")
    assert encode("refill", {"fill_ul": 20000}) == (pp.OP_REFILL, fill + bytes(4) + not_measured)
    assert encode("refill", {"fill_ul": 20000, "aspirated_ul": 0})[1][8:] == bytes(4)  # 0 came back: a measurement
    assert encode("prime", {}) == (pp.OP_PRIME, bytes(2))
    assert encode("stop", {}) == (pp.OP_STOP, b"")


# ---- the programmer's command line over Bumble: real ATT and SMP, passkey pairing ----------------------------


class _Shared:
    """A seam the command-line calls share (each would open and close its own connection to a real pump)."""

    def __init__(self, gatt):
        self.gatt = gatt
        self.frame_size = gatt.frame_size

    def __getattr__(self, name):
        return getattr(self.gatt, name)

    async def close(self):
        pass


def test_programmer_over_bumble_after_passkey_pairing(tmp_path):
    from tools.blehost import bluetooth
    from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central

    keys_path = str(tmp_path / "keys.json")
    keys.create(keys_path)
    rx = tmp_path / "rx.json"
    rx.write_text(json.dumps(RX))
    results = {}

    async def scenario():
        loop = asyncio.get_running_loop()
        lines = []
        hw, _ = _pump_board(keys_path, bluetooth.BLE(), bluetooth, clock=ScaledClock(1))
        app = _app(hw, lines.append)
        firmware = asyncio.create_task(app.run())
        phone = await Central().start()
        link = await phone.connect(await phone.scan(name=app.ble.name))
        await link.exchange_mtu(247)
        await link.discover()

        async def passkey():  # the clinician reads it off the pump's console
            for _ in range(200):
                shown = [m for m in map(re.compile(r"BLE pairing passkey (\d{6})").fullmatch, lines) if m]
                if shown:
                    return int(shown[-1].group(1))
                await asyncio.sleep(0.01)
            raise AssertionError("no passkey on the console")

        await link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=passkey)
        clinician = keys.load(keys_path)["clinician"]
        gatt = _Shared(await secure(CentralGatt(link), Session(clinician, ROLE_CLINICIAN)))

        def cli(*argv):
            out = []

            def factory(args, say):
                assert args.device == app.ble.name
                key = keys.load(args.keys, ("clinician",))["clinician"]

                async def opened():
                    return gatt

                return BleLink(opened, key, loop=loop)

            code = programmer.main(["--config", str(tmp_path / "none.json")] + list(argv)
                                   + ["--device", app.ble.name, "--keys", keys_path], say=out.append,
                                   link_factory=factory)
            return code, out

        results["refill"] = await asyncio.to_thread(cli, "refill", "--fill-ul", "20000", "--concentration", "10000")
        results["send"] = await asyncio.to_thread(cli, "send", str(rx))
        results["bolus"] = await asyncio.to_thread(cli, "bolus", "--dose-ug", "5000", "--duration-min", "30")
        results["status"] = await asyncio.to_thread(cli, "status")
        results["therapy"] = app.pump.therapy.describe()
        results["frame_size"] = gatt.frame_size
        await link.disconnect()
        await phone.close()
        firmware.cancel()
        try:
            await firmware
        except asyncio.CancelledError:
            pass

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert results["refill"] == (0, ['refill: done {"bridge_nl": 0, "discrepancy_ul": 0, "expected_ul": 0, '
                                     '"tolerance_ul": 1000}',
                                     "refill: aspirated volume not measured: no reconciliation (expected residual "
                                     "0 uL)"])
    code, out = results["send"]
    assert code == 0 and out[0].startswith("checked: morphine") and out[-2].startswith("program: done {")
    assert out[-1].startswith("battery: elective replacement ")
    assert results["therapy"].startswith("morphine 10000 ug/mL flex 2 steps")
    code, out = results["bolus"]
    assert code == 3 and "E200 hard limit exceeded: bolus.dose_ug" in out[-1]
    code, out = results["status"]
    assert code == 0 and out[0].startswith("flex, running: rate 400.0 uL/day")
    status = json.loads(out[-1].split(": ", 1)[1])
    assert status["features"]["keys"] and status["reservoir_nl"] <= 20000000
    assert results["frame_size"] == 244  # the exchanged MTU carries the frames
