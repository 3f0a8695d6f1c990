"""The telemetry client (`python -m tools.telemetry`) end to end against the simulated pump: the firmware's BLE
service on the Bumble shim, the client's transport on a Bumble central (real ATT/SMP over the in-process link,
passkey pairing as the person does it), everything else the client's own code."""

import asyncio
import csv
import io
import json
import os

import pytest

from rich.console import Console

from support.blerig import HOUR_MS, KEYS, SCENARIO, run, typed_passkey, until
from support import blerig
from pump import events
from pump.alarms import A_OCCLUSION
from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central
from tools.pumplink import proto as pp
from tools.pumplink.ble import CentralGatt
from tools.keys import keys
from tools.pumplink.link import LinkError, LocalLink
from tools.telemetry import telemetry
from tools.telemetry import view as tv

# catheter hydraulics and a pressure sensor, so that an occlusion raises the high-priority alarm
HYDRAULIC = dict(SCENARIO, plant={"compliance_ul_per_kpa": 0.16, "catheter_resistance_kpa_s_per_ul": 0.32,
                                  "sensor_noise_kpa": 0.05})


KEYS_M = dict(KEYS, monitor="3c" * 32)  # the pump's keys with the monitor's, which the client holds


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    """The monitor's key file the client is given (--keys): `python -m tools.keys --monitor-out`'s layout."""
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps({"monitor": KEYS_M["monitor"]}))
    os.chmod(path, 0o600)
    monkeypatch.setattr(keys, "DEFAULT_PATH", str(path))  # the client's default keys file, as a user's keys.json


def pump_on_air(doc=None):
    return blerig.pump_on_air(doc, keys=KEYS_M)


class CentralTransport:
    """The client's transport on a Bumble central: scan, connect, discover, then pair with the passkey the pump
    prints (the first time) or encrypt with the bond (afterwards). `wrap(gatt)` may stand between client and link."""

    def __init__(self, bsim, wrap=None):
        self.bsim = bsim
        self.wrap = wrap
        self.central = None
        self.opened = 0

    async def _central(self):
        if self.central is None:
            self.central = await Central().start()
        return self.central

    async def _advert(self, name, timeout_s):
        central = await self._central()
        try:
            return await central.scan(name=name, match=lambda a: pp.is_pump(a.name), timeout_s=timeout_s)
        except asyncio.TimeoutError:
            return None

    async def scan(self, timeout_s):
        advert = await self._advert(None, timeout_s)
        return [] if advert is None else [{"name": advert.name, "address": str(advert.address), "rssi": advert.rssi}]

    async def open(self, device, timeout_s):
        advert = await self._advert(device, min(timeout_s, 2))
        if advert is None:
            raise LinkError("%s: no such pump in range" % device)
        link = await self.central.connect(advert)
        await link.exchange_mtu(247)  # as a phone or BlueZ does: a sealed status or alarm then fits one frame
        await link.discover()
        if self.opened:
            await link.encrypt()
        else:
            await link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=lambda: typed_passkey(self.bsim))
        self.opened += 1
        gatt = CentralGatt(link)
        return self.wrap(gatt) if self.wrap else gatt


def pump_status(bsim):
    """The status the pump holds now, through the local link (the programmer's reference path)."""
    return LocalLink(bsim.sim.pump, bsim.sim.clock.ticks_ms).call("status")


class Wall:
    """A laptop clock for the CSV rows: one second per reading."""

    def __init__(self):
        import datetime

        self.t = datetime.datetime(2026, 8, 1, 9, 0, tzinfo=datetime.timezone.utc)
        self.step = datetime.timedelta(seconds=1)

    def __call__(self):
        self.t += self.step
        return self.t


def _segments_with(console, renderable, text):
    """The styles rich draws `text` with in the rendering of `renderable`."""
    return [seg.style for seg in console.render(renderable) if text in seg.text]


def test_live_view_follows_the_pump_logs_csv_and_highlights_an_alarm(tmp_path):
    path = tmp_path / "pump.csv"
    doc = dict(HYDRAULIC, events=[{"at_h": 2, "type": "occlusion"}])
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=110, color_system="standard")
    seen = []

    async def body():
        bsim = pump_on_air(doc)
        stop = asyncio.Event()
        cli = asyncio.ensure_future(telemetry.run(
            ["--device", bsim.name, "--csv", str(path)], transport=CentralTransport(bsim), console=console,
            stop=stop, on_monitor=seen.append, now=Wall()))
        await until(lambda: seen and seen[0].state.statuses and seen[0].state.alarm is not None)
        state = seen[0].state
        assert state.device == bsim.name and state.features["nl_per_step"] == 200
        assert state.status == pump_status(bsim) and state.status["today_nl"] == 0

        bsim.advance(HOUR_MS)
        await until(lambda: state.status["today_nl"] > 0)
        steps = bsim.sim.plant.steps_forward
        assert steps > 0 and state.status["today_nl"] == steps * 200
        assert state.status == pump_status(bsim)  # every field as the pump holds it
        assert state.status["pressure_kpa_x10"] is not None and state.active_alarms() == []

        bsim.advance(2 * HOUR_MS)  # the occlusion at 2 h is caught within a few steps
        await until(lambda: state.alarm["code"] == A_OCCLUSION and A_OCCLUSION in state.status["alarms"])
        assert state.alarm["priority"] == 3 and state.alarm["sounding"] == A_OCCLUSION
        assert state.status == pump_status(bsim) and state.status["state_name"] == "held"
        assert state.active_alarms()[0] == (A_OCCLUSION, "occlusion", 3)
        styles = _segments_with(console, tv.render(state), "OCCLUSION (HIGH)")
        assert styles and styles[0].bgcolor.name == "red" and styles[0].bold  # highlighted in red
        seen.append(pump_status(bsim))
        stop.set()
        assert await cli == 0
        await bsim.close()

    run(body, 60)
    drawn = screen.getvalue()
    assert "OCCLUSION (HIGH)" in drawn and "\x1b[1;37;41m" in drawn  # the terminal got it bold white on red
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == list(tv.CSV_COLUMNS)
    statuses = [r for r in rows if r["kind"] == "status"]
    alarms = [r for r in rows if r["kind"] == "alarm"]
    assert len(statuses) == seen[0].state.statuses and len(alarms) == seen[0].state.alarms_seen
    last = seen[-1]
    assert statuses[-1]["today_ul"] == "%.3f" % (last["today_nl"] / 1000)
    assert statuses[-1]["reservoir_ul"] == "%.3f" % (last["reservoir_nl"] / 1000)
    assert statuses[-1]["state"] == "held" and statuses[-1]["alarms"].split() == ["OCCLUSION"]
    assert alarms[-1]["alarm"] == "OCCLUSION" and alarms[-1]["alarm_priority"] == "high"
    walls = [r["wall_time"] for r in rows]
    assert walls == sorted(walls) and len(set(walls)) == len(walls)  # one laptop reading per row


def test_once_and_history_match_the_pumps_event_log(tmp_path):
    doc = dict(SCENARIO, events=[{"at_h": 1, "type": "suspend"}, {"at_h": 1.5, "type": "resume"},
                                 {"at_h": 2, "type": "patient_bolus"}])
    out = []
    path = tmp_path / "once.csv"

    async def body():
        bsim = pump_on_air(doc)
        bsim.advance(3 * HOUR_MS)
        await bsim.settle()
        code = await telemetry.run(["--device", bsim.name, "--history", "--once", "--csv", str(path)],
                                   transport=CentralTransport(bsim), out=out.append)
        assert code == 0, out[-3:]
        log = list(bsim.sim.pump.log.read())
        now = pump_status(bsim)
        await bsim.close()
        return log, now

    log, now = run(body, 60)
    header, records, summary = out[0], out[1:1 + len(log)], out[1 + len(log)]
    assert header.split() == ["seq", "time", "event", "detail"]
    assert summary == "%d records" % len(log) and len(log) >= 5
    for line, (seq, t_s, code, _a, _b) in zip(records, log):
        when = tv.local_time(t_s) if t_s else "clock not set"
        assert int(line.split()[0]) == seq and when in line and events.text(code) in line
    texts = [line for line in records if "suspended" in line or "resumed" in line or "bolus granted" in line]
    assert len(texts) == 3 and "by the user" in texts[0] and "patient" in texts[2]
    status_line, alarm_line = out[-2], out[-1]
    assert status_line == tv.status_line(now) and "constant, running" in status_line
    # no pressure sensor on this board: a low-priority alarm since the scenario started (2026-08-01 00:00)
    assert alarm_line == "ALARM LOW: occlusion sensing unavailable since 2026-08-01 00:00:00 UTC"
    rows = list(csv.DictReader(path.open()))
    assert [r["kind"] for r in rows] == ["status", "alarm"]


def test_a_lost_link_is_reconnected_with_backoff_and_the_bond(tmp_path):
    doc = dict(SCENARIO, events=[{"at_h": 2, "type": "reset"}])
    out = []
    seen = []

    async def body():
        bsim = pump_on_air(doc)
        transport = CentralTransport(bsim)
        stop = asyncio.Event()
        cli = asyncio.ensure_future(telemetry.run(["--device", bsim.name], transport=transport, out=out.append,
                                                  stop=stop, on_monitor=seen.append, backoff_s=0.05))
        await until(lambda: seen and seen[0].state.statuses)
        state = seen[0].state
        bsim.advance(3 * HOUR_MS)  # the pump resets at 2 h: its BLE stack restarts, the link drops
        await until(lambda: transport.opened == 2 and state.link == "connected")
        assert bsim.boots == 2 and len([t for t in bsim.printed if "passkey" in t]) == 1  # the bond, no pairing
        before = state.statuses
        bsim.advance(HOUR_MS)
        await until(lambda: state.statuses > before and state.status == pump_status(bsim))
        stop.set()
        assert await cli == 0
        await bsim.close()

    run(body, 60)
    notes = [line for line in out if "reconnecting" in line]
    assert notes[0] == "connection lost; reconnecting in 0.05 s (attempt 1 of 5)"
    assert out.count("connected") == 2


def test_garbled_frames_are_counted_and_shown_not_fatal(tmp_path):
    out = []
    seen = []

    class Garble:
        """Flips one CRC byte of the third status frame on its way in (a sealed status is one frame at MTU 247)."""

        def __init__(self, gatt):
            self.gatt = gatt
            self.n = 0

        def __getattr__(self, name):
            return getattr(self.gatt, name)

        async def receive(self, uuid, timeout_s):
            frame = await self.gatt.receive(uuid, timeout_s)
            if uuid == pp.STATUS_UUID:
                self.n += 1
                if self.n == 3:
                    frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
            return frame

    async def body():
        bsim = pump_on_air()
        stop = asyncio.Event()
        cli = asyncio.ensure_future(telemetry.run(["--device", bsim.name], transport=CentralTransport(bsim, Garble),
                                                  out=out.append, stop=stop, on_monitor=seen.append))
        await until(lambda: seen and seen[0].state.statuses)
        state = seen[0].state
        for _ in range(6):
            bsim.advance(HOUR_MS // 4)
            await until(lambda: state.status == pump_status(bsim) or state.refused)
            await bsim.settle()
        await until(lambda: state.status == pump_status(bsim))
        stop.set()
        assert await cli == 0
        await bsim.close()
        return state

    state = run(body, 60)
    assert state.refused >= 1 and state.refusal == "crc"
    assert "refused frame (crc), 1 so far" in out
    assert state.statuses >= 3  # messages after a refused frame decode again


def test_scan_lists_the_pump_and_errors_say_what_is_missing():
    out = []

    async def body():
        bsim = pump_on_air()
        transport = CentralTransport(bsim)
        assert await telemetry.run(["scan", "--timeout", "2"], transport=transport, out=out.append) == 0
        assert await telemetry.run(["--device", "PUMP-FFFF", "--once"], transport=transport, out=out.append) == 4
        await bsim.close()
        assert await telemetry.run(["scan", "--timeout", "0.3"], transport=CentralTransport(bsim),
                                   out=out.append) == 4
        return bsim.name

    name = run(body, 60)
    assert out[0].split()[0] == name and out[0].endswith("dBm")
    assert out[1] == "telemetry: PUMP-FFFF: no such pump in range"
    assert out[2].startswith("telemetry: no pump found within 0.3 s")
