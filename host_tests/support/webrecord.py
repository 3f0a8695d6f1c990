"""Frames recorded from the simulator: the firmware's BLE service on the recording fake radio, serving a simulated
pump for some hours (status on change, alarm indications, a history transfer), for the dashboard's tests.

The recorder is tools/dashboard/demo.py's (the demo session's scenario). `record()` returns {"name", "reads": {uuid:
hex of the read value}, "updates": [[uuid, hex], ...] in the order sent, "racp_request": hex frames the page is
expected to write, "expected": the same data decoded by tools/pumplink/proto.py}; `sealed()` turns it into what a
pump carrying the secure session sends."""

import os

from pump import session as ss
from pump.cmdauth import ROLE_MONITOR, parse_keys
from pump.frames import MAX_FRAME, MIN_FRAME
from pump.seal import OVERHEAD, STREAM_RACP
from tools.dashboard import demo
from tools.keys import keys
from tools.pumplink import proto as pp
from tools.pumplink.secure import STREAMS
from tools.pumplink.session import Session, new_ecb


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


NONCE_C = bytes(range(0x40, 0x50))  # the page's HELLO nonce in a sealed recording (the fake gives it to the page)
PUMP_ID = bytes.fromhex("e6614103e7452d2f")


def sealed(rec, keys_path, profile):
    """The recording as a pump carrying the secure session sends it (docs/ble.md, the GATT contract): the monitor's
    handshake on the Session characteristic (`session`: the page's expected writes, the pump's answers, the nonce),
    then every status, alarm, RACP and history message sealed on its stream by the firmware's PumpSession and framed
    as recorded; `racp_request` is what the page must write, sealed. `profile` names the stack the recording stands
    for (the frames are the same on both: only the link underneath differs). The seal is applied here to the
    service's recorded messages, with the firmware's own pump.session code."""
    doc = {name: key.hex() for name, key in keys.load(keys_path).items()}
    nonce_p = bytes(range(0x60, 0x70))
    pump = ss.PumpSession(parse_keys(doc), PUMP_ID, lambda n: nonce_p[:n], new_ecb)
    central = Session(bytes.fromhex(doc["monitor"]), ROLE_MONITOR, urandom=lambda n: NONCE_C[:n])
    hello = central.hello()
    challenge = pump.handshake(bytearray(hello), len(hello))
    confirm = central.confirm(challenge)
    result = pump.handshake(bytearray(confirm), len(confirm))
    central.established(result)

    plain = []

    def seal_frames(uuid, frames, size=None):
        message = pp.Reassembler.unframe([bytes.fromhex(f) for f in frames])
        plain.append(message.hex())
        out = bytearray(len(message) + OVERHEAD)
        assert pump.seal(STREAMS[uuid], message, len(message), out)
        size = size or max([MIN_FRAME] + [len(f) // 2 for f in frames])  # the link's frame size, as recorded
        return [f.hex() for f in pp.split(bytes(out), bytes.fromhex(frames[0])[1], size)]

    status = seal_frames(pp.STATUS_UUID, [rec["reads"][pp.STATUS_UUID]], MAX_FRAME)[0]  # a read: one frame
    reads = dict(rec["reads"], **{pp.STATUS_UUID: status})
    updates, pending = [], {}
    for uuid, frame in rec["updates"]:
        pending.setdefault(uuid, []).append(frame)
        if bytes.fromhex(frame)[0] & 0x80:  # the last fragment: the message is whole
            updates += [[uuid, f] for f in seal_frames(uuid, pending.pop(uuid))]
    request = pp.Reassembler.unframe([bytes.fromhex(f) for f in rec["racp_request"]])
    framed = lambda msg, e2e=1: [f.hex() for f in pp.split(msg, e2e)]  # noqa: E731 - the page counts from 1
    return dict(rec, reads=reads, updates=updates, racp_request=framed(central.seal(STREAM_RACP, request)),
                profile=profile, plain=plain, session={"uuid": ss.SESSION_UUID, "nonce_c": NONCE_C.hex(),
                                          "writes": [framed(hello), framed(confirm, 2)],
                                          "answers": [framed(challenge), framed(result, 2)],
                                          "monitor": doc["monitor"]})
