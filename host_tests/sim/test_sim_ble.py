"""`python -m tools.sim SCENARIO --ble`: the scenario in real time with the pump's BLE service, on the in-process
link or through a Bumble transport (a loopback HCI socket here, where a phone would use a USB dongle)."""

import asyncio
import json
import os
import socket

from support.blerig import KEY, KEYS, SCENARIO
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport import open_transport

from tools.blehost.central import IO_KEYBOARD_DISPLAY, Central
from tools.pumplink import proto as pp
from tools.pumplink.phone import Phone
from tools.sim import ble as simble
from tools.sim.scenario import Scenario
from tools.sim.sim import Simulation, main
from verify.bench import ble as blebench


def test_a_scenario_advanced_piecewise_delivers_what_one_run_does():
    doc = dict(SCENARIO, days=2, events=[{"at_h": 5, "type": "patient_bolus"}, {"at_h": 20, "type": "reset"}])
    whole = Simulation(Scenario(doc)).run()
    sim = Simulation(Scenario(doc))
    for t_ms in range(0, sim.end_ms, 7 * 60 * 1000 + 13):  # slices that never line up with steps or events
        sim.advance(t_ms)
    sim.advance(sim.end_ms)
    pieces = sim.finish()
    for key in ("steps", "delivered_ul", "programmed_ul", "max_error_steps", "reservoir_ul", "boluses", "resets",
                "alarms"):
        assert pieces[key] == whole[key], key
    assert pieces["wakeups"] > whole["wakeups"]  # one more tick per slice, nothing else


def test_serve_runs_the_pump_in_real_time_for_a_phone():
    async def body():
        printed = []
        sim = Simulation(Scenario(SCENARIO))
        stop = asyncio.Event()
        server = asyncio.ensure_future(simble.serve(sim, keys=KEYS, speed=3600, out=printed.append, stop=stop))
        central = await Central().start()
        advert = await central.scan(match=lambda a: (a.name or "").startswith("PUMP-"))
        link = await central.connect(advert)
        await link.discover()
        phone = Phone(link, KEY)
        await phone.subscribe()

        async def passkey():
            while not any(t.startswith("BLE pairing passkey") for t in printed):
                await asyncio.sleep(0.01)
            return int(printed[-1].split()[-1])

        await phone.open_session(pp.ROLE_CLINICIAN)
        await link.pair(mitm=True, io=IO_KEYBOARD_DISPLAY, passkey=passkey)
        first = pp.decode_status(await phone.message(pp.STATUS_UUID))
        later = pp.decode_status(await phone.message(pp.STATUS_UUID, timeout_s=5))
        assert later["t_s"] > first["t_s"] and later["today_nl"] > first["today_nl"]  # pump time runs on its own
        assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND))["result"] == 0
        stop.set()
        bsim = await server
        assert bsim.counters() == (1, 0) and sim.pump.state_name == "suspended"
        assert printed[0] == "BLE: secure session over LESC bonding"  # the stack's security, said once
        assert printed[1].startswith("BLE: PUMP-") and "in-process link" in printed[1]

    asyncio.run(asyncio.wait_for(body(), 30))


def test_cli_serves_on_the_in_process_link_and_reports(capsys, tmp_path):
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(SCENARIO))
    assert main([str(path), "--ble", "--seconds", "0.3", "--speed", "3600"]) == 0
    out = capsys.readouterr().out
    assert "advertising" in out and "in-process link" in out
    assert "days 0.0" in out and "delivered" in out  # the report covers the pump time that ran
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert main([str(path), "--ble", "--seconds", "0.3", "--transport", "tcp-client:127.0.0.1:%d" % closed]) == 3
    assert "no controller" in capsys.readouterr().err


def test_cli_serves_through_a_transport_to_a_controller_a_phone_can_reach(tmp_path):
    """The CLI in its own thread and event loop, HCI over a loopback socket to a controller on the phone's link."""
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(SCENARIO))
    keys = tmp_path / "keys.json"
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(KEYS, f)

    async def body():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        air = LocalLink()
        hci = await open_transport("tcp-server:127.0.0.1:%d" % port)
        Controller("dongle", host_source=hci.source, host_sink=hci.sink, link=air)
        argv = [str(path), "--ble", "--seconds", "5", "--speed", "600", "--keys", str(keys), "--transport",
                "tcp-client:127.0.0.1:%d" % port]
        cli = asyncio.get_running_loop().run_in_executor(None, main, argv)
        central = await Central(link=air).start()
        advert = await central.scan(match=lambda a: (a.name or "").startswith("PUMP-"), timeout_s=10)
        link = await central.connect(advert)
        await link.discover()
        features = pp.decode_features(pp.Reassembler.unframe(await link.read(pp.FEATURES_UUID)))
        assert features["keys"]  # the keys file reached the pump
        phone = Phone(link, KEY)
        await phone.subscribe()
        await link.pair()
        await phone.open_session(pp.ROLE_PATIENT)
        notified = pp.decode_status(await phone.message(pp.STATUS_UUID))
        assert notified["state_name"] == "running"
        assert (await phone.status())["t_s"] >= notified["t_s"]
        assert await cli == 0
        await hci.close()

    asyncio.run(asyncio.wait_for(body(), 30))


def test_the_ble_bench_runs_both_parts():
    """Timings are printed by `make bench`, never asserted: this only keeps the bench working."""
    stack = asyncio.run(blebench.measure(1))
    assert set(stack) == {"runs", "scan_ms", "connect_discover_ms", "notify_latency_ms"}
    for profile in ("rp2-btstack", "esp32-nimble"):  # every command it times must have succeeded
        pump = asyncio.run(blebench.measure_pump(2, connects=1, profile=profile))
        assert set(pump) == {"runs", "profile", "pump_connect_discover_ms", "pump_session_ms", "pump_pair_ms",
                             "pump_command_ms", "pump_status_after_step_ms"}
        assert (pump["pump_pair_ms"] is None) == (profile == "rp2-btstack") and pump["pump_session_ms"] > 0
