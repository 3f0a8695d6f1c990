"""Frames recorded from the simulator: the firmware's BLE service on the recording fake radio, serving a simulated
pump for some hours (status on change, alarm indications, a history transfer), for the dashboard's tests.

The recorder is tools/dashboard/demo.py's (the demo session's scenario). `record()` returns {"name", "reads": {uuid:
hex of the read value}, "updates": [[uuid, hex], ...] in the order sent, "racp_request": hex frames the page is
expected to write, "expected": the same data decoded by tools/pumplink/proto.py}."""

import os

from tools.dashboard import demo
from tools.keys import keys
from tools.pumplink import proto as pp


def record(tmp_dir, hours=26, pressure=False):
    """The recording (tools/dashboard/demo.py's scenario); with `pressure`, the pump has a pressure sensor."""
    path = os.path.join(tmp_dir, "keys.json")
    if not os.path.exists(path):
        keys.create(path)
    rec = demo.record(path, hours=hours, pressure=pressure)
    updates = [[uuid, frame] for _t_ms, uuid, frame in rec["updates"]]
    return {"name": rec["name"], "reads": rec["reads"], "updates": updates, "racp_request": rec["racp_request"],
            "expected": expected(rec["reads"], updates)}


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
