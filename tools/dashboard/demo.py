"""The dashboard's demo session (web/demo.json): frames the firmware's own BLE service sends while it serves a
simulated pump (the simulated board, the recording radio of board/sim/radio.py), each with its pump time, so a page
without a pump can play a real session back through its decoder.

    python -m tools.dashboard.demo            write tools/dashboard/web/demo.json
    python -m tools.dashboard.demo --check    exit 1 if the file differs from what the recorder gives (tests run it)

The scenario: a morphine flex program (4 mg/day from 00:00, 6 mg/day from 08:00) on a small fill, so the reservoir
low alarm is raised within the session; a patient bolus, a clinician bolus cancelled by a suspension, a resumption;
the event log fetched through RACP every few hours, as a central following the pump would. The recorder opens a
clinician session (the pump seals everything it sends) and records each message as the central opened it, framed
again with its own counter: a demo page needs no key.
"""

import json
import os
import sys
import tempfile

from board import sim as simboard
from board.sim import radio as fakeble
from board.sim.clock import SimRtc, VirtualClock
from board.sim.flash import FakeStorage
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant
from pump import racp
from pump.app import App
from pump.compat import ticks_diff
from pump.config import PumpConfig
from pump.druglib import DrugLibrary
from tools import ROOT, generated
from tools.dashboard import webdefs
from tools.keys import keys
from tools.pumplink import proto as pp
from tools.pumplink import session as ps

PATH = os.path.join(webdefs.WEB, "demo.json")
LIBRARY = os.path.join(ROOT, "lib", "druglib.json")
HOURS = 26
HISTORY_EVERY_H = 4
MTU = 247  # what Chrome negotiates with a pump (the pump offers MAX_FRAME + 3)
SETUP = {"fill_ul": 3400, "prescription": {  # a small fill: RESERVOIR_LOW is raised within the recording
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 4000},
                                          {"start": "08:00", "dose_ug_per_day": 6000}]},
    "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}}
_H_MS = 3600000


def record(keys_path, hours=HOURS, pressure=False, history_every_h=None, mtu=None, profile=None, role="clinician",
           nonce_c=None):
    """The session: {"name", "reads": {uuid: hex}, "updates": [[t_ms, uuid, hex], ...] in the order sent,
    "racp_request": hex frames of the final whole-log request, "sealed": the same as it went over the air}. With
    `pressure`, the plant has catheter hydraulics and the pump a pressure sensor; with `history_every_h`, the log's
    new records are fetched that often too; with `mtu`, the central negotiates that ATT MTU (a message then fits one
    frame), else the link keeps the minimum. `profile`: the fake radio's stack profile (default PUMP_BLE_STACK, else
    esp32-nimble); `role` the central's session role, `nonce_c` its HELLO nonce (random unless given).
    "sealed" = {"reads", "updates": [[uuid, hex], ...], "racp_request", "session": {"writes", "answers"}}: the
    frames as sent, sealed, the handshake's messages in frames both ways."""
    clock = VirtualClock()
    radio = fakeble.BLE(profile)
    plant = Plant(fill_ul=SETUP["fill_ul"])
    if pressure:
        Hydraulics(clock).attach(plant)
    hw = simboard.build({"clock": clock, "plant": plant, "storage": FakeStorage(), "rtc": SimRtc(clock), "ble": radio,
                         "bluetooth": fakeble, "keys_path": keys_path, "aes": ps.new_ecb})
    app = App(hw, PumpConfig(), DrugLibrary.load(LIBRARY), SETUP, out=lambda line: None)
    svc, pump = app.ble, app.pump
    radio.connect()
    if radio.pairing:
        radio.encrypt(authenticated=True)
    if mtu:
        radio.exchange_mtu(mtu)
    frame_size = (mtu or 23) - 3
    updates = []
    seen = [0, 0]
    uuid_of = {svc.h_status: pp.STATUS_UUID, svc.h_alarm: pp.ALARM_UUID, svc.h_history: pp.HISTORY_UUID,
               svc.h_racp: pp.RACP_UUID}
    stream_of = {svc.h_status: ps.STREAM_STATUS, svc.h_alarm: ps.STREAM_ALARM, svc.h_history: ps.STREAM_HISTORY,
                 svc.h_racp: ps.STREAM_RACP}
    rx = {h: pp.Reassembler() for h in uuid_of}
    rx[svc.h_session] = pp.Reassembler()
    answers = []
    opened = []  # (handle, e2e, payload) of every message the central opened
    raw = {"updates": [], "answered": [], "session": {"writes": [], "answers": []}}  # the frames as they went

    def serve():
        while True:
            svc.run(clock.ticks_ms())
            new_n = radio.notified[seen[0]:]
            new_i = radio.indicated[seen[1]:]
            seen[0], seen[1] = len(radio.notified), len(radio.indicated)
            first = [x for x in new_i if x[1] == svc.h_session]  # the session's RESULT before what it lets through
            for _conn, h, data in first + new_n + [x for x in new_i if x[1] != svc.h_session]:
                if h not in rx:
                    continue
                if h == svc.h_session:
                    raw["answered"].append(data.hex())
                else:
                    raw["updates"].append([uuid_of[h], data.hex()])
                msg = rx[h].feed(data)
                if msg is None:
                    continue
                if h == svc.h_session:
                    if msg[0] == 4:  # RESULT: open (or refused: raised here)
                        central.established(msg)
                    answers.append(msg)
                    continue
                payload = central.open(stream_of[h], msg)
                opened.append((h, data[1], payload))
                for frame in pp.split(payload, data[1], frame_size):
                    updates.append([clock.t_ms, uuid_of[h], frame.hex()])
            for _ in new_i:
                radio.indicate_done()
            if not new_i:
                return

    def exchange(msg, e2e):
        frames = pp.split(msg, e2e, frame_size)
        raw["session"]["writes"].append([f.hex() for f in frames])
        before = len(raw["answered"])
        for frame in frames:
            radio.write(svc.h_session, frame)
        serve()
        raw["session"]["answers"].append(raw["answered"][before:])
        return answers.pop(0)

    central = ps.Session.from_keys(role, keys_path)
    exchange(central.confirm(exchange(central.hello(nonce_c), 1)), 2)

    def newer():  # a request for the records after the last one fetched
        seq = max([0] + [pp.decode_history(p)["seq"] for p in _payloads(updates, pp.HISTORY_UUID)])
        return pp.racp_request(racp.OP_REPORT, racp.OPR_GE, first=seq + 1)

    def fetch_history(payload):
        request = pp.split(payload, e2e=1)
        raw["racp_request"] = [f.hex() for f in pp.split(central.seal(ps.STREAM_RACP, payload), 1, frame_size)]
        for frame in raw["racp_request"]:
            radio.write(svc.h_racp, bytes.fromhex(frame))
        for _ in range(1000):
            n = len(updates)
            clock.t_ms += 50
            serve()
            if len(updates) == n and svc.history.records is None:
                break
        return request

    end = clock.t_ms + hours * _H_MS
    # boluses of two kinds in the history: a patient bolus done, a clinician bolus cancelled after 2 of its 10 min
    at = clock.t_ms + 12 * _H_MS
    actions = [(at - 9 * _H_MS, pump.patient_bolus), (at, lambda now: pump.clinician_bolus(50, 10, now=now)),
               (at + 120000, pump.suspend), (at + 180000, pump.resume)]
    fetches = [h * _H_MS for h in range(history_every_h, hours, history_every_h)] if history_every_h else []
    status_read = None  # the status a central reads as it connects: the first one; the notifications follow it
    while clock.t_ms < end:
        if actions and actions[0][0] <= clock.t_ms:
            actions.pop(0)[1](clock.ticks_ms())
        if fetches and fetches[0] <= clock.t_ms:
            fetches.pop(0)
            fetch_history(newer())
        deadline = pump.tick(clock.ticks_ms())
        serve()
        if "status" not in raw and radio.values[svc.h_status]:
            raw["status"] = radio.values[svc.h_status].hex()  # the value a central reads: sealed, one frame
        if status_read is None:  # the readable value is the latest status in one frame
            first = [(e2e, p) for h, e2e, p in opened if h == svc.h_status]
            status_read = pp.split(first[0][1], first[0][0], 244)[0].hex() if first else None
        step = max(1, min(ticks_diff(deadline, clock.ticks_ms()), 600000))
        for t in (actions[0][0] if actions else None, fetches[0] if fetches else None):
            if t is not None:
                step = max(1, min(step, t - clock.t_ms))
        clock.t_ms = min(end, clock.t_ms + step)
    serve()
    request = fetch_history(newer() if history_every_h else pp.racp_request(racp.OP_REPORT, racp.OPR_ALL))
    reads = {pp.STATUS_UUID: status_read, pp.FEATURES_UUID: radio.values[svc.h_features].hex()}
    sealed = {"reads": {pp.STATUS_UUID: raw["status"], pp.FEATURES_UUID: reads[pp.FEATURES_UUID]},
              "updates": raw["updates"], "racp_request": raw["racp_request"], "session": raw["session"]}
    return {"name": svc.name, "reads": reads, "updates": updates, "racp_request": [f.hex() for f in request],
            "sealed": sealed}


def _payloads(updates, uuid):
    """The payloads of the messages recorded on `uuid`, reassembled."""
    rx = pp.Reassembler()
    out = []
    for _t, u, frame in updates:
        if u == uuid:
            payload = rx.feed(bytes.fromhex(frame))
            if payload is not None:
                out.append(payload)
    return out


def session():
    """The demo session as the page reads it: {"name", "hours", "reads": {characteristic: hex},
    "updates": [[t_ms, characteristic, hex frame], ...]}, characteristics named as in pumpdefs.json's uuids
    (deterministic: the fresh keys file only sets a flag the frames carry)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "keys.json")
        keys.create(path)
        rec = record(path, pressure=True, history_every_h=HISTORY_EVERY_H, mtu=MTU)
    names = {uuid: name for name, uuid in webdefs.definitions()["uuids"].items()}
    return {"note": "generated by python -m tools.dashboard.demo from the simulated pump; do not edit",
            "name": rec["name"], "hours": HOURS,
            "reads": {names[uuid]: frame for uuid, frame in rec["reads"].items()},
            "updates": [[t_ms, names[uuid], frame] for t_ms, uuid, frame in rec["updates"]]}


def text():
    rec = session()
    updates = rec.pop("updates")
    head = json.dumps(rec, indent=1, sort_keys=True)[:-2]
    # one update a line: the file stays readable and its diffs small
    return head + ',\n "updates": [\n' + ",\n".join(json.dumps(u) for u in updates) + "\n ]\n}\n"


def main(argv=None):
    return generated.main(argv, "tools.dashboard.demo", PATH, text, __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
