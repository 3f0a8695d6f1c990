"""Frames recorded from the simulator: the firmware's BLE service on the recording fake radio, serving a simulated
pump for some hours (status on change, alarm indications, a history transfer), for the dashboard's tests.

The recorder is tools/dashboard/demo.py's (the demo session's scenario). `record()` returns {"name", "reads": {uuid:
hex of the read value}, "updates": [[uuid, hex], ...] in the order sent, "racp_request": hex frames the page is
expected to write, "expected": the same data decoded by tools/pumplink/proto.py}; with a stack profile, the frames as
they went over the air, sealed in the monitor's session."""

import os

from pump import session as ss
from tools.dashboard import demo
from tools.keys import keys
from tools.pumplink import proto as pp

NONCE_C = bytes(range(0x40, 0x50))  # the page's HELLO nonce in a sealed recording (the fake gives it to the page)
PUMP_ID = bytes.fromhex("e6614103e7452d2f")


def record(tmp_dir, hours=26, pressure=False, profile=None):
    """The recording (tools/dashboard/demo.py's scenario); with `pressure`, the pump has a pressure sensor. With a
    stack `profile`, the recording is what went over the air from the firmware's service on that stack's fake
    radio: the monitor's handshake (`session`: the page's expected writes with the nonce it is given, the pump's
    answers), every frame sealed, and `expected` what they carry, decoded."""
    path = os.path.join(tmp_dir, "keys.json")
    if not os.path.exists(path):
        keys.create(path)
    rec = demo.record(path, hours=hours, pressure=pressure, profile=profile, role="monitor", nonce_c=NONCE_C)
    updates = [[uuid, frame] for _t_ms, uuid, frame in rec["updates"]]
    out = {"name": rec["name"], "reads": rec["reads"], "updates": updates, "racp_request": rec["racp_request"],
           "expected": expected(rec["reads"], updates)}
    if profile is not None:
        air = rec["sealed"]
        plain = [pp.Reassembler.unframe(bytes.fromhex(f)).hex() for f in rec["reads"].values()]
        out.update(reads=air["reads"], updates=air["updates"], racp_request=air["racp_request"], profile=profile,
                   plain=plain + [bytes.fromhex(f)[3:-2].hex() for _u, f in updates],
                   session={"uuid": ss.SESSION_UUID, "nonce_c": NONCE_C.hex(), "writes": air["session"]["writes"],
                            "answers": air["session"]["answers"],
                            "monitor": keys.load(path)["monitor"].hex()})
    return out


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



