"""Test vectors of the pump's BLE protocol: fixed inputs framed and packed by the firmware's own code, with the values
a decoder must read back. host_tests/support/vectors/ble_frames.json is this module's output; Python tests check it
both ways and other decoders (the phone's JavaScript) are checked against the same file.

    python -m verify.ble_vectors            # rewrite host_tests/support/vectors/ble_frames.json
    python -m verify.ble_vectors --check    # exit 1 when the file is not what the code produces
"""

import json
import os
import struct
import sys

from pump import events, racp
from pump.commands import OP_PATIENT_BOLUS, OP_PROGRAM, OP_REFILL, OP_SUSPEND, pack_response
from pump.errors import E_HARD_LIMIT, E_REPLAY
from pump.eventlog import RECORD_SIZE, encode
from pump.frames import crc16
from pump.hmac import hmac_sha256
from pump.telemetry import ALARM, STATUS
from tools import ROOT, generated
from tools.pumplink import proto as pumpproto

PATH = os.path.join(ROOT, "host_tests", "support", "vectors", "ble_frames.json")
CLINICIAN_KEY = bytes(range(0x10, 0x30))  # test keys only: never a pump's
PATIENT_KEY = bytes(range(0x80, 0xA0))


def _hex(b):
    return bytes(b).hex()


def _message(name, characteristic, payload, e2e, decoded, frame_size=20):
    frames = pumpproto.split(payload, e2e, frame_size)
    return {"name": name, "characteristic": characteristic, "frame_size": frame_size, "e2e": e2e,
            "frames": [_hex(f) for f in frames], "payload": _hex(payload), "decoded": decoded}


def _status(values):
    order = ("t_s", "mode", "state", "rate_nl_per_day", "today_nl", "total_ul", "reservoir_nl", "empty_day",
             "battery_pct", "alarm_bitmap", "pressure_kpa_x10", "eri_day", "flags")
    raw = dict(values)
    for day in ("empty_day", "eri_day"):
        raw[day] = 0xFFFF if raw[day] is None else raw[day]
    raw["battery_pct"] = 255 if raw["battery_pct"] is None else raw["battery_pct"]
    raw["pressure_kpa_x10"] = -32768 if raw["pressure_kpa_x10"] is None else raw["pressure_kpa_x10"]
    return struct.pack(STATUS, *[raw[k] for k in order])


def _record(seq, t_s, code, a, b):
    buf = bytearray(RECORD_SIZE)
    encode(buf, memoryview(buf)[:20], seq, t_s, code, a, b)
    return bytes(buf)


def _response(opcode, code, counter, data):
    buf = bytearray(64)
    n = pack_response(buf, opcode, code, counter, data)
    return bytes(buf[:n])


def _command(name, key_name, role, counter, opcode, params, e2e, frame_size=20):
    key = CLINICIAN_KEY if key_name == "clinician" else PATIENT_KEY
    frames = pumpproto.encode_command(key, role, counter, opcode, params, e2e, frame_size)
    body = struct.pack("<BBI", opcode, role, counter) + params
    return {"name": name, "characteristic": "command", "key": key_name, "role": role, "counter": counter,
            "opcode": opcode, "params": _hex(params), "e2e": e2e, "frame_size": frame_size,
            "frames": [_hex(f) for f in frames], "payload": _hex(body + hmac_sha256(key, body))}


def vectors():
    running = {"t_s": 839059200, "mode": 1, "state": 1, "rate_nl_per_day": 400000, "today_nl": 183400,
               "total_ul": 1234, "reservoir_nl": 18766600, "empty_day": 9759, "battery_pct": 97,
               "alarm_bitmap": 0x0200, "pressure_kpa_x10": 125, "eri_day": 10650, "flags": 0}
    held = {"t_s": 839100000, "mode": 2, "state": 4, "rate_nl_per_day": 0, "today_nl": 0, "total_ul": 0,
            "reservoir_nl": 0, "empty_day": None, "battery_pct": None, "alarm_bitmap": 0x10003,
            "pressure_kpa_x10": None, "eri_day": None, "flags": 1}
    messages = []
    for name, values, e2e, size in (("status, running", running, 17, 20), ("status, held, no readings", held, 255, 20),
                                    ("status, one frame (MTU 185)", running, 18, 182)):
        decoded = pumpproto.decode_status(_status(values))
        assert all(decoded[k] == v for k, v in values.items()), name
        messages.append(_message(name, "status", _status(values), e2e, decoded, size))
    alarm = struct.pack(ALARM, 1, 3, 839059000, 0x0001, 1)
    messages.append(_message("alarm: occlusion, sounding", "alarm", alarm, 3, pumpproto.decode_alarm(alarm)))
    none = struct.pack(ALARM, 0, 0, 0, 0, 0)
    messages.append(_message("alarm: none", "alarm", none, 4, pumpproto.decode_alarm(none)))
    rec = _record(42, 839059123, events.BOLUS_GRANTED, 100000, events.BOLUS_PATIENT)
    messages.append(_message("history record", "history", rec, 9, pumpproto.decode_history(rec)))
    for name, code, a, kind, e2e in (
        ("history record: bolus cancelled (clinician)", events.BOLUS_CANCELLED, 36000, events.BOLUS_CLINICIAN, 10),
        ("history record: bolus done (periodic)", events.BOLUS_DONE, 50000, events.BOLUS_PERIODIC, 11),
    ):
        rec = _record(43, 839059200, code, a, kind)
        messages.append(_message(name, "history", rec, e2e, pumpproto.decode_history(rec)))
    feat = struct.pack(pumpproto.FEATURES, 5, 3072, 200, 40000)
    messages.append(_message("features", "features", feat, 0, pumpproto.decode_features(feat), 244))
    for name, payload, e2e in (
        ("response: suspend accepted", _response(OP_SUSPEND, 0, 7, b""), 1),
        ("response: refill, bridge volume", _response(OP_REFILL, 0, 8, struct.pack("<I", 150000)), 2),
        ("response: program refused", _response(OP_PROGRAM, E_HARD_LIMIT, 9,
                                                "therapy.dose_ug_per_day: 25000 above 20000"), 3),
        ("response: replayed", _response(OP_PATIENT_BOLUS, E_REPLAY, 12, ""), 4),
    ):
        messages.append(_message(name, "command", payload, e2e, _plain(pumpproto.decode_response(payload))))
    for name, payload, e2e, decoded in (
        ("racp request: count all", pumpproto.racp_request(racp.OP_COUNT, racp.OPR_ALL), 1,
         {"op": racp.OP_COUNT, "operator": racp.OPR_ALL}),
        ("racp request: report range 10..20", pumpproto.racp_request(racp.OP_REPORT, racp.OPR_RANGE, 10, 20), 2,
         {"op": racp.OP_REPORT, "operator": racp.OPR_RANGE, "filter": racp.FILTER_SEQ, "first": 10, "last": 20}),
        ("racp request: report from 100", pumpproto.racp_request(racp.OP_REPORT, racp.OPR_GE, 100), 3,
         {"op": racp.OP_REPORT, "operator": racp.OPR_GE, "filter": racp.FILTER_SEQ, "first": 100}),
        ("racp answer: number of records", struct.pack(racp.NUMBER, racp.OP_NUMBER, 0, 137), 5, None),
        ("racp answer: transfer done",
         struct.pack(racp.RESPONSE, racp.OP_RESPONSE, 0, racp.OP_REPORT, racp.RC_SUCCESS), 6, None),
    ):
        messages.append(_message(name, "racp", payload, e2e, decoded or pumpproto.decode_racp(payload)))
    program = pumpproto.program_payload({"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
                                         "therapy": {"mode": "constant", "dose_ug_per_day": 4000}})
    commands = [
        _command("suspend (clinician)", "clinician", 1, 7, OP_SUSPEND, b"", 21),
        _command("patient bolus (patient)", "patient", 2, 3, OP_PATIENT_BOLUS, b"", 22),
        _command("refill 20000 uL, same drug", "clinician", 1, 8, OP_REFILL, struct.pack("<II", 20000, 0), 23),
        _command("program (JSON in many fragments)", "clinician", 1, 9, OP_PROGRAM, program, 24),
        _command("program at MTU 247", "clinician", 1, 10, OP_PROGRAM, program, 25, 244),
    ]
    good = bytes.fromhex(commands[0]["frames"][0])
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0x01
    refused = [
        {"frame": _hex(good[:4]), "reason": "short"},
        {"frame": _hex(bytes((0x82,)) + good[1:]), "reason": "version"},
        {"frame": _hex(bad_crc), "reason": "crc"},
        {"frame": commands[0]["frames"][1], "reason": "order"},
    ]
    return {
        "format": 1,
        "about": "pump BLE frames (docs/ble.md): made by verify/ble_vectors.py from the firmware's own code",
        "keys": {"clinician": _hex(CLINICIAN_KEY), "patient": _hex(PATIENT_KEY)},
        "crc16": [{"data": _hex(d), "crc": crc16(d)} for d in (b"123456789", b"", bytes(range(20)))],
        "hmac_sha256": [{"key": _hex(k), "data": _hex(d), "mac": _hex(hmac_sha256(k, d))}
                        for k, d in ((b"Jefe", b"what do ya want for nothing?"), (CLINICIAN_KEY, bytes(6)))],
        "messages": messages,
        "commands": commands,
        "refused_frames": refused,
    }


def _plain(d):
    return {k: (_hex(v) if isinstance(v, bytes) else v) for k, v in d.items()}


def text():
    return json.dumps(vectors(), indent=1) + "\n"


def main(argv=None):
    return generated.main(argv, "verify.ble_vectors", PATH, text, __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
