"""The BLE figures of `make bench`: the heap a status notification takes on MicroPython (a probe), and the timings of
Bumble's host stacks on an in-process link (CPython).

    micropython verify/bench/ble.py                     the probe; prints JSON (MICROPYPATH=.frozen:lib:.)
    python -m verify.bench.ble [--runs N] [--json OUT]  the timings (medians; printed only)

The probe: a pump at 15 mL/day (a step every 1.152 s) with a connected central in a secure session (rp2-btstack: the
session alone) on the recording fake radio (in its counting mode): every wake delivers a step and the BLE task seals
the changed status and notifies it in four 20-byte frames. AES: cryptolib's, or the simulated board's pure-Python
stand-in on the webassembly port. It imports only what MicroPython has; the timings' modules are imported where they
run.

The timings: a board-style peripheral on the `bluetooth` shim and a Bumble central in one process: the figures are the
host stacks' own cost (ATT/SMP/HCI in Python, no radio), a floor under what a phone sees over the air. Then the pump's
own service on a simulated pump (tools/sim/ble.py), per stack profile: connect + discover (paced by its 1 s
advertising interval), the secure session's set-up (handshake), passkey pairing (esp32-nimble), an authenticated
command's round trip, and a sealed status notification after a step.
"""

import gc
import json
import sys

from pump.compat import heap_lock, heap_unlock, ticks_diff

# ---- heap per status notification: the probe (MicroPython, either word size) ---------------------------------------
_WAKES = 500


def build():
    from board import sim as simboard
    from board.sim import radio as bluetooth  # the recording fake radio, counting only
    from board.sim.aes import new_ecb
    from board.sim.clock import VirtualClock
    from board.sim.flash import FakeStorage
    from board.sim.plant import Plant
    from pump.bleservice import PumpService
    from pump.config import PumpConfig
    from pump.controller import Pump
    from pump.druglib import DrugLibrary

    clock = VirtualClock()
    hw = simboard.build({"clock": clock, "storage": FakeStorage(), "plant": Plant(fill_ul=40000)})
    pump = Pump(hw, PumpConfig({"checkpoint_interval_s": 86400}), DrugLibrary.load("lib/druglib.json"),
                clock.ticks_ms())
    pump.refill(40000, 1000)
    pump.program({"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
                  "therapy": {"mode": "constant", "dose_ug_per_day": 15000}}, confirm_battery=True)  # 15 mL/day
    from pump.cmdauth import ROLE_MONITOR, parse_keys
    from pump.session import CentralSession

    key = bytes(range(32))
    doc = {"clinician": bytes(range(1, 33)).hex(), "patient": bytes(range(2, 34)).hex(), "monitor": key.hex()}
    radio = bluetooth.BLE(bluetooth.BTSTACK)
    svc = PumpService(radio, bluetooth, pump, hw.storage, hw.uid_hex, "bench", clock, keys=parse_keys(doc),
                      urandom=lambda n: bytes(range(n)), out=lambda text: None, new_ecb=new_ecb)
    radio.connect()
    central = CentralSession(key, ROLE_MONITOR, new_ecb)

    def exchange(msg):
        return radio.exchange(svc.h_session, msg, lambda: svc.run(clock.ticks_ms()))

    central.established(exchange(central.confirm(exchange(central.hello(bytes(16))))))
    for _ in range(5):  # the status and alarm the new session gets
        svc.run(clock.ticks_ms())
        radio.indicate_done()
    return clock, pump, svc, radio


def wakes(clock, pump, tick, run, n):
    """n wake-ups at the pump's deadlines; `tick` and `run` are bound methods fetched once (fetching one allocates)."""
    while n > 0:
        deadline = pump.plan.next_deadline()
        clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
        tick(deadline)
        run(deadline)
        n -= 1


def probe():
    clock, pump, svc, radio = build()
    tick = pump.tick
    run = svc.run
    wakes(clock, pump, tick, run, 20)
    radio.record = False
    first = radio.notifies
    gc.collect()
    gc.disable()
    before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    wakes(clock, pump, tick, run, _WAKES)
    allocated = (gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0) - before
    gc.enable()
    notifies = radio.notifies - first
    locked_ok = True
    heap_lock()
    try:
        wakes(clock, pump, tick, run, _WAKES)
    except MemoryError:
        locked_ok = False
    finally:
        heap_unlock()
    locked = radio.notifies - first - notifies
    print(json.dumps({"notifications": notifies, "heap_bytes_per_notification": allocated / max(notifies, 1),
                      "heap_lock_ok": locked_ok, "locked_notifications": locked}))


# ---- timings over Bumble's in-process link (CPython) -------------------------------------------------------------
_SERVICE = "7a1e0001-52d4-4c3f-9b1e-5d2f7c1a0b01"
_VALUE = "7a1e0005-52d4-4c3f-9b1e-5d2f7c1a0b01"
_NAME = b"bench"


class _Peripheral:
    """Four characteristics, one notifying; advertises every 20 ms and again after each disconnection."""

    def __init__(self, bluetooth, ble):
        self.ble = ble
        ble.irq(self._irq)
        ble.active(True)
        chars = [(bluetooth.UUID(0x2A19 + i), bluetooth.FLAG_READ) for i in range(3)]
        value = (bluetooth.UUID(_VALUE), bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY)
        ((*_, self.value),) = ble.gatts_register_services([(bluetooth.UUID(_SERVICE), chars + [value])])
        self.advertise()

    def advertise(self):
        self.ble.gap_advertise(20000, bytes([len(_NAME) + 1, 0x09]) + _NAME)

    def _irq(self, event, data):
        if event == 2:  # central disconnected
            self.advertise()


def _quiet():
    """Bumble's warnings about unsolicited notifications (the battery level) would fill the table's output."""
    import logging

    logging.getLogger("bumble").setLevel(logging.ERROR)


async def measure(runs):
    import statistics
    import time

    from tools.blehost import bluetooth
    from tools.blehost.central import Central

    _quiet()
    peripheral = _Peripheral(bluetooth, bluetooth.BLE())
    phone = await Central().start()
    scan_s, connect_s, latency_s = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        advert = await phone.scan(name=_NAME.decode())
        t1 = time.perf_counter()
        link = await phone.connect(advert)
        await link.discover()
        t2 = time.perf_counter()
        queue = await link.subscribe(bluetooth.UUID(_VALUE))
        for i in range(10):
            sent = time.perf_counter()
            peripheral.ble.gatts_notify(link.handle, peripheral.value, bytes([i]) * 20)
            await queue.get()
            latency_s.append(time.perf_counter() - sent)
        await link.disconnect()
        scan_s.append(t1 - t0)
        connect_s.append(t2 - t1)
    await phone.close()
    return {
        "runs": runs,
        "scan_ms": round(statistics.median(scan_s) * 1000, 2),
        "connect_discover_ms": round(statistics.median(connect_s) * 1000, 2),
        "notify_latency_ms": round(statistics.median(latency_s) * 1000, 3),
    }


async def measure_pump(runs, connects=3, profile="esp32-nimble"):
    import asyncio
    import os
    import statistics
    import time

    from tools.blehost.central import Central
    from tools.pumplink import proto as pp
    from tools.pumplink.phone import Phone
    from tools.sim.ble import BleSim
    from tools.sim.scenario import Scenario
    from tools.sim.sim import Simulation

    _quiet()
    doc = {"days": 30, "pump": {"nl_per_step": 200}, "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
           "fill_ul": 20000, "therapy": {"mode": "constant", "dose_ug_per_day": 5000}}
    keys = {"clinician": os.urandom(32).hex(), "patient": os.urandom(32).hex()}
    bsim = BleSim(Simulation(Scenario(doc)), keys=keys, speed=1000, profile=profile)
    central = await Central().start()
    connect_s, session_s = [], []
    for _ in range(connects):
        t0 = time.perf_counter()
        phone = await Phone.connect(bsim.name, {pp.ROLE_CLINICIAN: bytes.fromhex(keys["clinician"])}, central)
        t1 = time.perf_counter()
        await phone.open_session(pp.ROLE_CLINICIAN)
        session_s.append(time.perf_counter() - t1)
        connect_s.append(t1 - t0)
        if len(connect_s) < connects:
            await phone.link.disconnect()

    async def passkey():
        while not any(t.startswith("BLE pairing passkey") for t in bsim.printed):
            await asyncio.sleep(0.001)
        return int(bsim.printed[-1].split()[-1])

    pair_s = None
    if bsim.ble.pairing:
        t0 = time.perf_counter()
        await phone.pair_mitm(passkey)
        pair_s = time.perf_counter() - t0
    command_s, status_s = [], []
    for i in range(runs):
        t0 = time.perf_counter()
        answer = await phone.send(pp.ROLE_CLINICIAN, pp.OP_RESUME if i % 2 else pp.OP_SUSPEND)
        command_s.append(time.perf_counter() - t0)
        assert answer["result"] == 0, answer
    if runs % 2:
        await phone.send(pp.ROLE_CLINICIAN, pp.OP_RESUME)
    for _ in range(runs):
        phone.forget(pp.STATUS_UUID)
        before = bsim.sim.plant.steps_forward
        while bsim.sim.plant.steps_forward == before:
            t0 = time.perf_counter()
            bsim.advance(60000)
        await phone.message(pp.STATUS_UUID)
        status_s.append(time.perf_counter() - t0)
    await bsim.close()
    return {
        "runs": runs,
        "profile": profile,
        "pump_connect_discover_ms": round(statistics.median(connect_s) * 1000, 1),
        "pump_session_ms": round(statistics.median(session_s) * 1000, 2),
        "pump_pair_ms": None if pair_s is None else round(pair_s * 1000, 1),
        "pump_command_ms": round(statistics.median(command_s) * 1000, 2),
        "pump_status_after_step_ms": round(statistics.median(status_s) * 1000, 2),
    }


def main(argv=None):
    import argparse
    import asyncio

    ap = argparse.ArgumentParser(prog="python -m verify.bench.ble", description="BLE timings over Bumble's "
                                 "in-process link: scan, connect + discover, notification latency (medians)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    res = asyncio.run(measure(args.runs))
    print("BLE in-process link, median of %d: scan %.2f ms, connect + discover %.2f ms, notification %.3f ms" % (
        res["runs"], res["scan_ms"], res["connect_discover_ms"], res["notify_latency_ms"]))
    for profile in ("rp2-btstack", "esp32-nimble"):
        pump = asyncio.run(measure_pump(args.runs, profile=profile))
        res[profile] = pump
        print("pump service, %s: connect + discover %.1f ms (1 s advertising), session set-up %.2f ms, passkey "
              "pairing %s, command round trip %.2f ms, sealed status notified %.2f ms after a step (medians of %d)" % (
                  profile, pump["pump_connect_discover_ms"], pump["pump_session_ms"],
                  "none (no pairing)" if pump["pump_pair_ms"] is None else "%.1f ms" % pump["pump_pair_ms"],
                  pump["pump_command_ms"], pump["pump_status_after_step_ms"], pump["runs"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        probe()
    else:
        sys.exit(main())
