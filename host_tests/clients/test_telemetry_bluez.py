"""The telemetry client's bleak transport (tools.pumplink.ble.BleakTransport, BleakGatt) on BlueZ's D-Bus API as BlueZoo
emulates it, on a private dbus-daemon started for each test (host_tests/support/bluezrig.py): the command line as a
person runs it, with `--adapter hci0` and nothing injected.

What BlueZoo emulates and these tests use: adapters, LE advertising (name, service UUIDs) and discovery, connecting,
pairing (with a NoInputNoOutput agent), GATT applications of a peripheral linked to the central (services,
characteristics, reads, writes, StartNotify and value changes forwarded as notifications, indications confirmed),
disconnecting by the central. What it cannot emulate, so these tests do not check it:
connecting again to a device the central disconnected from (BlueZoo exports the linked GATT objects a second time
and fails), so each test connects once; passkey or numeric-comparison
pairing (any other agent capability is not implemented) and so encryption or MITM levels (a read never fails for
lack of them); the ATT MTU exchange (bleak falls back to 23: 20-byte frames); RSSI (always 0); a second discovery
reporting a device the adapter already knows (no advertisement updates: the transport connects to the device a scan
found instead); a disconnection by the peripheral or a lost link (the central's device stays connected), so the
client's reconnection is tested over Bumble (test_telemetry.py).
"""

import asyncio
import csv

import pytest

from support import blerig
from support.blerig import HOUR_MS, SCENARIO, until
from support.bluezrig import LAPTOP, PUMP, Bluez, DbusPump, dbus_daemon, device_path, device_property, laptop_agent
from support.bluezrig import other_advertiser
from pump import events
from pump.alarms import A_OCCLUSION
from tools.pumplink import proto as pp
from tools.keys import keys
from tools.pumplink.ble import BleakTransport
from tools.sim.scenario import Scenario
from tools.sim.sim import Simulation
from tools.telemetry import telemetry
from tools.telemetry import view as tv

pytestmark = pytest.mark.skipif(dbus_daemon() is None, reason="no dbus-daemon on PATH: `make dbusdeps` (part of "
                                "`make test`) installs Debian's dbus-daemon")
HYDRAULIC = dict(SCENARIO, plant={"compliance_ul_per_kpa": 0.16, "catheter_resistance_kpa_s_per_ul": 0.32,
                                  "sensor_noise_kpa": 0.05}, events=[{"at_h": 2, "type": "occlusion"},
                                                                     {"at_h": 2.5, "type": "patient_bolus"}])
PUMP_DEVICE = device_path("hci0", PUMP)


@pytest.fixture
def key_file(tmp_path):
    """keys.json for the pump (all three keys), the telemetry client taking the monitor's from it."""
    path = str(tmp_path / "keys.json")
    keys.create(path)
    return path


def pump_keys(path):
    return {name: key.hex() for name, key in keys.load(path).items()}


@pytest.fixture
def bluez(monkeypatch):
    """BlueZoo on a fresh private bus, which bleak (and the rig) reach as the system bus."""
    rig = Bluez()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", rig.address)
    yield rig
    rig.stop()


def run(coro_fn):
    return blerig.run(coro_fn, timeout_s=60)  # a private dbus-daemon and BlueZoo: slower than the in-process link


def test_scan_lists_the_pump_by_name_and_leaves_other_advertisers_out(bluez, key_file):
    out = []

    async def body():
        pump = await DbusPump(Simulation(Scenario(SCENARIO)), pump_keys(key_file)).start()
        other = await other_advertiser()
        agent = await laptop_agent()
        transport = BleakTransport(adapter="hci0")
        assert await telemetry.run(["scan", "--timeout", "1.5"], transport=transport, out=out.append) == 0
        # connecting needs no second scan: the transport remembers the device (BlueZoo would not report it again)
        assert await telemetry.run(["--device", PUMP, "--once", "--keys", key_file], transport=transport,
                                   out=out.append) == 0
        await pump.stop()
        other.disconnect()
        agent.disconnect()
        return pump.name

    name = run(body)
    assert out[0] == "%-10s %-18s %4d dBm" % (name, PUMP, 0)  # BlueZoo reports no RSSI
    assert out[1].split(": rate ")[0].endswith("constant, running") and len(out) == 3


def test_no_pump_and_no_bluez_are_said_plainly(bluez, monkeypatch, tmp_path, key_file):
    out = []
    code = asyncio.run(telemetry.run(["scan", "--adapter", "hci0", "--timeout", "0.5"], out=out.append))
    assert code == 4 and out == ["telemetry: no pump found within 0.5 s (in range, advertising, Bluetooth on?)"]
    code = asyncio.run(telemetry.run(["--device", "PUMP-FFFF", "--adapter", "hci0", "--timeout", "0.5", "--keys",
                                      key_file], out=out.append))
    assert code == 4 and out[1] == "telemetry: PUMP-FFFF: no such pump in range"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=%s" % (tmp_path / "none"))  # no BlueZ at all
    code = asyncio.run(telemetry.run(["scan", "--adapter", "hci0", "--timeout", "0.5"], out=out.append))
    assert code == 4 and out[2].startswith("telemetry: cannot scan: ")


def test_once_connects_pairs_through_the_agent_and_decodes_the_pumps_values(bluez, tmp_path, key_file):
    path = tmp_path / "once.csv"
    out = []

    async def body():
        sim = Simulation(Scenario(HYDRAULIC))
        sim.advance(HOUR_MS)
        pump = await DbusPump(sim, pump_keys(key_file)).start()
        agent = await laptop_agent()
        code = await telemetry.run(["--device", pump.name, "--adapter", "hci0", "--once", "--csv", str(path),
                                    "--keys", key_file, "--pair"], out=out.append)
        assert code == 0, out
        assert await device_property(PUMP_DEVICE, "Paired") is True  # bleak's pair() (--pair), through the agent
        assert pump.session.role == 3  # the monitor's session carried the values
        assert await device_property(PUMP_DEVICE, "Connected") is False  # closed after the one reading
        assert await device_property(device_path("hci1", LAPTOP), "Paired") is True  # the pump's side bonded too
        expected = pp.decode_status(pump.status_payload()), pp.decode_alarm(pump.alarm_payload())
        await pump.stop()
        agent.disconnect()
        return expected

    status, alarm = run(body)
    assert status["today_nl"] > 0 and status["pressure_kpa_x10"] is not None
    assert out == [tv.status_line(status), tv.alarm_line(alarm)]
    rows = list(csv.DictReader(path.open()))
    assert [r["kind"] for r in rows] == ["status", "alarm"]
    assert rows[0]["today_ul"] == "%.3f" % (status["today_nl"] / 1000)


def test_live_notifications_and_an_indicated_alarm_through_bleak(bluez, key_file):
    out = []
    seen = []

    async def body():
        sim = Simulation(Scenario(HYDRAULIC))
        pump = await DbusPump(sim, pump_keys(key_file)).start()
        agent = await laptop_agent()
        stop = asyncio.Event()
        cli = asyncio.ensure_future(telemetry.run(["--device", pump.name, "--adapter", "hci0", "--keys", key_file],
                                                  out=out.append, stop=stop, on_monitor=seen.append))
        await until(lambda: seen and seen[0].state.link == "connected")
        state = seen[0].state
        assert state.status == pp.decode_status(pump.status_payload()) and state.features["pressure_sensor"]
        await until(lambda: pump.chars[pp.STATUS_UUID][1].notifying and pump.chars[pp.ALARM_UUID][1].notifying)

        sim.advance(HOUR_MS)
        pump.publish()  # two 20-byte frames, reassembled by the client
        await until(lambda: state.status["today_nl"] > 0)
        assert state.status == pp.decode_status(pump.status_payload())
        assert state.status["today_nl"] == sim.plant.steps_forward * 200

        sim.advance(3 * HOUR_MS)  # the occlusion at 2 h raises the high-priority alarm
        pump.publish()
        await until(lambda: state.alarm is not None and state.alarm["code"] == A_OCCLUSION)
        assert state.active_alarms()[0] == (A_OCCLUSION, "occlusion", 3)
        await until(lambda: state.status == pp.decode_status(pump.status_payload()))
        stop.set()
        assert await cli == 0
        assert await device_property(PUMP_DEVICE, "Connected") is False
        assert await device_property(PUMP_DEVICE, "Paired") is False  # no --pair: the session alone
        await pump.stop()
        agent.disconnect()
        return state

    state = run(body)
    assert state.refused == 0 and state.statuses == len([line for line in out if ": rate " in line]) >= 3
    assert any(line.startswith("ALARM HIGH: occlusion since ") for line in out)


def test_history_dump_through_bleak_matches_the_pumps_event_log(bluez, key_file):
    out = []

    async def body():
        sim = Simulation(Scenario(HYDRAULIC))
        sim.advance(3 * HOUR_MS)
        pump = await DbusPump(sim, pump_keys(key_file)).start()
        agent = await laptop_agent()
        code = await telemetry.run(["--device", pump.name, "--adapter", "hci0", "--history", "--keys", key_file],
                                   out=out.append)
        assert code == 0 and pump.racp_writes == 2, out  # the sealed request: 27 bytes, two 20-byte frames
        log = list(sim.pump.log.read())
        await pump.stop()
        agent.disconnect()
        return log

    log = run(body)
    assert len(log) >= 4 and out[-1] == "%d records" % len(log) and len(out) == len(log) + 2
    for line, (seq, t_s, code, _a, _b) in zip(out[1:-1], log):
        when = tv.local_time(t_s) if t_s else "clock not set"
        assert int(line.split()[0]) == seq and when in line and events.text(code) in line
    assert any("alarm raised" in line and line.endswith("alarm occlusion") for line in out)
    assert any("suspended" in line and line.endswith("by alarm occlusion") for line in out)
    assert any("bolus refused" in line and line.endswith("E300 %s, patient" % pp.result_text(300)) for line in out)
