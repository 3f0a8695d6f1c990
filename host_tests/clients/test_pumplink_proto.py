"""tools/pumplink/proto.py (the host side of the BLE protocol) against the test vectors, CPython's own CRC and HMAC,
and the firmware's service on the fake radio."""

import binascii
import hashlib
import hmac
import json
import struct

import pytest

from pump.seal import STREAM_COMMAND, STREAM_RACP

from support.flash import FakeStorage
from pump import events as ev
from pump import racp
from pump.cmdauth import ROLE_MONITOR, CommandAuth, parse_keys
from pump.commands import content_hash, roles_for


from tools.pumplink import proto as pumpproto
from tools.pumplink.proto import (OP_PATIENT_BOLUS, OP_PROGRAM, OP_REFILL, OP_SUSPEND, ROLE_CLINICIAN, ROLE_PATIENT,
                             FrameError, Reassembler)
from verify import ble_vectors
from support.blebench import Bench
from support.keys import KC, KP
from support.rig import PB, rx

with open(ble_vectors.PATH) as _f:
    VECTORS = json.load(_f)

DECODERS = {"status": pumpproto.decode_status, "alarm": pumpproto.decode_alarm, "history": pumpproto.decode_history,
            "features": pumpproto.decode_features}


def _plain(d):
    return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in d.items()}


def test_vectors_file_is_what_the_code_produces():
    with open(ble_vectors.PATH) as f:
        assert f.read() == ble_vectors.text(), "stale: run python -m verify.ble_vectors"


def test_crc_and_hmac_vectors_against_cpython():
    for v in VECTORS["crc16"]:
        assert binascii.crc_hqx(bytes.fromhex(v["data"]), 0xFFFF) == v["crc"]
    assert VECTORS["crc16"][0]["crc"] == 0x29B1
    for v in VECTORS["hmac_sha256"]:
        key, data = bytes.fromhex(v["key"]), bytes.fromhex(v["data"])
        assert hmac.new(key, data, hashlib.sha256).hexdigest() == v["mac"]


def test_message_vectors_decode_to_their_values():
    assert len(VECTORS["messages"]) >= 15
    for v in VECTORS["messages"]:
        frames = [bytes.fromhex(f) for f in v["frames"]]
        assert all(len(f) <= v["frame_size"] for f in frames)
        assert all(f[1] == v["e2e"] for f in frames)
        payload = Reassembler.unframe(frames)
        assert payload.hex() == v["payload"], v["name"]
        kind = v["characteristic"]
        if kind in DECODERS:
            assert DECODERS[kind](payload) == v["decoded"], v["name"]
        elif kind == "command":
            assert _plain(pumpproto.decode_response(payload)) == v["decoded"], v["name"]
        elif v["name"].startswith("racp answer"):
            assert pumpproto.decode_racp(payload) == v["decoded"]
        else:
            d = v["decoded"]
            assert payload == pumpproto.racp_request(d["op"], d["operator"], d.get("first"), d.get("last"))
    status = pumpproto.decode_status(Reassembler.unframe([bytes.fromhex(f) for f in VECTORS["messages"][0]["frames"]]))
    assert status["rate_nl_per_day"] == 400000 and status["empty_day"] == 9759 and status["alarms"] == [10]
    assert status["version"] == 2 and status["eri_day"] == 10650 and not status["clock_unset"]
    held = pumpproto.decode_status(Reassembler.unframe([bytes.fromhex(f) for f in VECTORS["messages"][1]["frames"]]))
    assert held["alarms"] == [1, 2, 17] and held["eri_day"] is None and held["clock_unset"]


def test_a_version_1_status_from_an_older_recording_still_decodes():
    import struct

    from pump.telemetry import STATUS_V1

    old = pumpproto.decode_status(struct.pack(STATUS_V1, 839059200, 1, 1, 400000, 183400, 1234, 18766600, 9759, 97,
                                              0x0200, 125))
    assert old["version"] == 1 and old["empty_day"] == 9759 and old["alarms"] == [10]
    assert old["eri_day"] is None and old["flags"] == 0 and old["pressure_kpa_x10"] == 125


def test_command_vectors_are_what_encode_command_makes_and_what_the_pump_accepts():
    keys = {name: bytes.fromhex(h) for name, h in VECTORS["keys"].items()}
    auth = CommandAuth(FakeStorage(), parse_keys(VECTORS["keys"]), lambda *a: None, 0)
    for v in sorted(VECTORS["commands"], key=lambda c: c["counter"]):
        key = keys[v["key"]]
        frames = pumpproto.encode_command(key, v["role"], v["counter"], v["opcode"], bytes.fromhex(v["params"]),
                                          v["e2e"], v["frame_size"])
        assert [f.hex() for f in frames] == v["frames"], v["name"]
        payload = Reassembler.unframe(frames)
        assert payload.hex() == v["payload"]
        body, tag = payload[:-32], payload[-32:]
        assert hmac.new(key, body, hashlib.sha256).digest() == tag
        assert struct.unpack_from("<BBI", body) == (v["opcode"], v["role"], v["counter"])
        assert auth.verify(bytearray(payload), len(payload), 0, roles_for) == 0, v["name"]


def test_refused_frame_vectors():
    for v in VECTORS["refused_frames"]:
        with pytest.raises(FrameError) as e:
            Reassembler().feed(bytes.fromhex(v["frame"]))
        assert e.value.reason == v["reason"]


def test_history_records_name_the_bolus_kind():
    from pump import events
    from pump.eventlog import RECORD_SIZE, encode

    def record(code, a, b):
        buf = bytearray(RECORD_SIZE)
        encode(buf, memoryview(buf)[:20], 7, 839059123, code, a, b)
        return pumpproto.decode_history(bytes(buf))

    assert record(events.BOLUS_GRANTED, 100000, events.BOLUS_PATIENT)["kind"] == "patient"
    assert record(events.BOLUS_REFUSED, 301, events.BOLUS_PATIENT)["kind"] == "patient"
    assert record(events.BOLUS_CANCELLED, 36000, events.BOLUS_CLINICIAN)["kind"] == "clinician"
    assert record(events.BOLUS_DONE, 50000, events.BOLUS_PERIODIC)["kind"] == "periodic"
    assert record(events.BOLUS_DONE, 50000, 9)["kind"] == "kind 9"
    assert "kind" not in record(events.REFILL, 20000, 10000)  # b is no kind there


def test_helpers():
    assert pumpproto.command_payload(OP_REFILL, 20000, 0, 0xFFFFFFFF) == struct.pack("<III", 20000, 0, 0xFFFFFFFF)
    assert pumpproto.command_payload(OP_SUSPEND) == b""
    with pytest.raises(ValueError):
        pumpproto.command_payload(OP_PROGRAM)
    assert pumpproto.program_payload({"a": [1, 2]}, confirm_soft=True) == b'\x01{"a":[1,2]}'
    with pytest.raises(ValueError):
        pumpproto.encode_command(KC, ROLE_CLINICIAN, 1, OP_PROGRAM, bytes(3100))
    with pytest.raises(ValueError):
        pumpproto.decode_response(b"\x01\x00")
    with pytest.raises(ValueError):
        pumpproto.decode_history(bytes(24))  # seq 0 is never a record
    frames = pumpproto.split(b"x" * 40, 7)
    with pytest.raises(FrameError):
        Reassembler.unframe(frames[:-1])  # incomplete
    with pytest.raises(FrameError):
        Reassembler.unframe(frames + frames[:1])  # more after the end
    assert pumpproto.ROLE_BY_NAME == {"clinician": ROLE_CLINICIAN, "patient": ROLE_PATIENT, "monitor": ROLE_MONITOR}
    assert pumpproto.result_text(0) == "ok" and pumpproto.result_text(503) == "commands locked out"


class Phone:
    """A host tool's view: pumpproto over the fake radio, in the Bench's secure session (opened and sealed there)."""

    def __init__(self, bench):
        self.bench = bench

    def received(self, handle, kind="notified"):
        return self.bench.messages(handle, kind)

    def write(self, handle, stream, message, e2e):
        for frame in pumpproto.split(self.bench.central.seal(stream, message), e2e):
            self.bench.radio.write(handle, frame)
        self.bench.settle()

    def command(self, key, role, counter, opcode, payload=b""):
        b = self.bench
        if b.central.role != role:
            b.open_session(role)  # a command goes in a session of its own role
        message = Reassembler.unframe(pumpproto.encode_command(key, role, counter, opcode, payload, counter))
        self.write(b.svc.h_command, STREAM_COMMAND, message, counter)
        return pumpproto.decode_response(self.received(b.svc.h_command, "indicated")[-1])


def test_pumpproto_against_the_service():
    b = Bench()
    b.connect()
    phone = Phone(b)
    svc = b.svc
    pump = b.rig.pump
    status = pumpproto.decode_status(phone.received(svc.h_status)[-1])
    assert status["state_name"] == "running" and status["reservoir_nl"] == pump.reservoir.remaining_nl
    assert status["alarms"] == [10] and status["pressure_kpa_x10"] is None
    assert Reassembler.unframe(b.radio.values[svc.h_status]) == b.raw_messages(svc.h_status)[-1]  # sealed, readable
    alarm = pumpproto.decode_alarm(phone.received(svc.h_alarm, "indicated")[-1])
    assert alarm["name"] == "OCCLUSION_SENSING_UNAVAILABLE" and alarm["priority"] == 1
    feat = pumpproto.decode_features(Reassembler.unframe(b.radio.values[svc.h_features]))
    assert feat["keys"] and feat["command_max"] == 3072
    answer = phone.command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)
    assert (answer["command"], answer["result"], answer["counter"]) == ("suspend", 0, 1) and pump.suspended
    doc = rx(25000, patient_bolus=PB)
    answer = phone.command(KC, ROLE_CLINICIAN, 2, OP_PROGRAM, pumpproto.program_payload(doc))
    assert answer["result"] == 200 and "dose_ug_per_day" in answer["detail"]
    answer = phone.command(KC, ROLE_CLINICIAN, 2, OP_REFILL, pumpproto.command_payload(OP_REFILL, 30000, 0, 0xFFFFFFFF))
    assert answer["result"] == 501 and answer["text"] == "stale command counter" and answer["counter"] == 2
    answer = phone.command(KC, ROLE_CLINICIAN, 3, OP_REFILL, pumpproto.command_payload(OP_REFILL, 30000, 0, 0xFFFFFFFF))
    assert answer["result"] == 0 and answer["bridge_nl"] == 0
    answer = phone.command(KP, ROLE_PATIENT, 1, OP_PATIENT_BOLUS)
    assert answer["result"] == 300  # suspended: not allowed now
    # history: the bolus refusal's audit (its content hash) is the newest record, the refusal two before
    phone.write(svc.h_racp, STREAM_RACP, pumpproto.racp_request(racp.OP_REPORT, racp.OPR_LAST), 1)
    record = pumpproto.decode_history(phone.received(svc.h_history)[-1])
    assert (record["code"], record["a"], record["b"], record["text"]) == (ev.CONTENT,) + content_hash(b"") + (
        "command content",)
    assert [r[2:] for r in pump.log.read()][-3] == (ev.BOLUS_REFUSED, 300, ev.BOLUS_PATIENT)
    assert record["seq"] == pump.log.last_seq
    assert pumpproto.decode_racp(phone.received(svc.h_racp, "indicated")[-1]) == {"request": 1, "code": 1}
