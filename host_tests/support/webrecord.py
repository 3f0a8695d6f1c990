"""Frames recorded from the simulator: the firmware's BLE service on the recording fake radio, serving a simulated
pump for some hours (status on change, alarm indications, a history transfer), for the dashboard's tests.

`record()` returns {"name", "reads": {uuid: hex of the read value}, "updates": [[uuid, hex], ...] in the order
sent, "racp_request": hex frames the page is expected to write, "expected": the same data decoded by
tools/pumplink/proto.py}.
"""

import os

from board import sim as simboard
from board.sim import radio as fakeble
from board.sim.clock import SimRtc, VirtualClock
from board.sim.flash import FakeStorage
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant
from pump import racp
from pump.app import App
from pump.config import PumpConfig
from pump.druglib import DrugLibrary
from pump.compat import ticks_diff
from tools.keys import keys
from tools.pumplink import proto as pp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARY = os.path.join(ROOT, "lib", "druglib.json")
_SETUP = {"fill_ul": 3400, "prescription": {  # a small fill: RESERVOIR_LOW is raised within the recording
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 4000},
                                          {"start": "08:00", "dose_ug_per_day": 6000}]},
    "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}}


def record(tmp_dir, hours=26, pressure=False):
    """The recording; with `pressure`, the plant has catheter hydraulics and the pump a pressure sensor."""
    path = os.path.join(tmp_dir, "keys.json")
    if not os.path.exists(path):
        keys.create(path)
    clock = VirtualClock()
    radio = fakeble.BLE()
    plant = Plant(fill_ul=_SETUP["fill_ul"])
    if pressure:
        Hydraulics(clock).attach(plant)
    hw = simboard.build({"clock": clock, "plant": plant, "storage": FakeStorage(), "rtc": SimRtc(clock), "ble": radio,
                         "bluetooth": fakeble, "keys_path": path})
    app = App(hw, PumpConfig(), DrugLibrary.load(LIBRARY), _SETUP, out=lambda line: None)
    svc, pump = app.ble, app.pump
    radio.connect()
    radio.encrypt(authenticated=True)
    updates = []
    seen = [0, 0]
    uuid_of = {svc.h_status: pp.STATUS_UUID, svc.h_alarm: pp.ALARM_UUID, svc.h_history: pp.HISTORY_UUID,
               svc.h_racp: pp.RACP_UUID}

    def serve():
        while True:
            svc.run(clock.ticks_ms())
            new_n = radio.notified[seen[0]:]
            new_i = radio.indicated[seen[1]:]
            seen[0], seen[1] = len(radio.notified), len(radio.indicated)
            for _conn, h, data in new_n + new_i:
                if h in uuid_of:
                    updates.append([uuid_of[h], data.hex()])
            for _ in new_i:
                radio.indicate_done()
            if not new_i:
                return

    end = clock.t_ms + hours * 3600000
    # boluses of two kinds in the history: a patient bolus done, a clinician bolus cancelled after 2 of its 10 min
    at = clock.t_ms + 12 * 3600000
    actions = [(at - 9 * 3600000, pump.patient_bolus), (at, lambda now: pump.clinician_bolus(50, 10, now=now)),
               (at + 120000, pump.suspend), (at + 180000, pump.resume)]
    status_read = None  # the status a central reads as it connects: the first one; the notifications follow it
    while clock.t_ms < end:
        if actions and actions[0][0] <= clock.t_ms:
            actions.pop(0)[1](clock.ticks_ms())
        deadline = pump.tick(clock.ticks_ms())
        serve()
        if status_read is None:
            status_read = radio.values[svc.h_status].hex()
        step = max(1, min(ticks_diff(deadline, clock.ticks_ms()), 600000))
        if actions:
            step = max(1, min(step, actions[0][0] - clock.t_ms))
        clock.t_ms = min(end, clock.t_ms + step)
    serve()
    request = pp.split(pp.racp_request(racp.OP_REPORT, racp.OPR_ALL), e2e=1)
    for frame in request:
        radio.write(svc.h_racp, frame)
    for _ in range(1000):
        n = len(updates)
        clock.t_ms += 50
        serve()
        if len(updates) == n and svc.history.records is None:
            break
    reads = {pp.STATUS_UUID: status_read, pp.FEATURES_UUID: radio.values[svc.h_features].hex()}
    return {"name": svc.name, "reads": reads, "updates": updates, "racp_request": [f.hex() for f in request],
            "expected": expected(reads, updates)}


def expected(reads, updates):
    """Everything recorded, decoded by tools/pumplink/proto.py (what the page must show)."""
    out = {"features": pp.decode_features(pp.Reassembler.unframe(bytes.fromhex(reads[pp.FEATURES_UUID]))),
           "status_read": pp.decode_status(pp.Reassembler.unframe(bytes.fromhex(reads[pp.STATUS_UUID]))),
           "status": [], "alarm": [], "history": [], "racp": []}
    rx = {}
    decoders = {pp.STATUS_UUID: ("status", pp.decode_status), pp.ALARM_UUID: ("alarm", pp.decode_alarm),
                pp.HISTORY_UUID: ("history", pp.decode_history), pp.RACP_UUID: ("racp", pp.decode_racp)}
    for uuid, frame in updates:
        payload = rx.setdefault(uuid, pp.Reassembler()).feed(bytes.fromhex(frame))
        if payload is not None:
            key, decode = decoders[uuid]
            out[key].append(decode(payload))
    return out
