"""The pump's BLE protocol on the host (CPython): UUIDs, commands, and decoders of what the pump sends.

Everything reuses the firmware's own code (lib/pump: frames, HMAC, layouts, opcodes), so host and pump cannot
drift apart; docs/ble.md describes the protocol byte by byte.

    frames = encode_command(key, ROLE_CLINICIAN, counter, OP_SUSPEND, b"")   # write each to COMMAND_UUID
    rx = Reassembler()
    for frame in indications_on_the_command_point:
        payload = rx.feed(frame)                                           # bytes once the message is complete
    answer = decode_response(payload)                                      # {"opcode", "result", "counter", ...}
    status = decode_status(Reassembler.unframe(read_value_of_STATUS_UUID))  # a read value is one whole frame
"""

import json
import struct

from pump import events
from pump import frames as _frames
from pump import racp
from pump.alarms import NAME as ALARM_NAMES
from pump.alarms import PRIORITY as ALARM_PRIORITIES
from pump.alarms import TEXT as ALARM_TEXTS
from pump.gatt import (ALARM_UUID, CMD_MAX, COMMAND_UUID, FEATURE_ENCODER, FEATURE_KEYS, FEATURE_PRESSURE,
                       FEATURES, FEATURES_UUID, HISTORY_UUID, RACP_UUID, SERVICE_UUID, STATUS_UUID)
from pump.cmdauth import HEAD, ROLE_CLINICIAN, ROLE_NAMES, ROLE_PATIENT, TAG_LEN
from pump.commands import (NO_FORECAST, NOT_MEASURED, OP_ACKNOWLEDGE, OP_CLINICIAN_BOLUS, OP_PAIN_SCORE,
                           OP_PATIENT_BOLUS, OP_PRIME, OP_PROGRAM, OP_REFILL, OP_RESUME, OP_RESUME_ALARM, OP_SET_CLOCK,
                           OP_SILENCE, OP_STOP, OP_SUSPEND, OP_TRIAL, PROGRAM_RESPONSE, REFILL_RESPONSE, RESPONSE,
                           RESPONSE_LEN, TABLE)
from pump.errors import MESSAGES
from pump.eventlog import RECORD_SIZE
from pump.eventlog import decode as _decode_record
from pump.hmac import hmac_sha256
from pump.state import STATE_NAMES
from pump.telemetry import ALARM, STATUS, STATUS_V1
from pump.therapy import MODE_NAMES

__all__ = [
    "ALARM_NAMES",
    "ALARM_PRIORITIES",
    "ALARM_TEXTS",
    "ALARM_UUID",
    "BATTERY_LEVEL_UUID",
    "BATTERY_UUID",
    "COMMAND_UUID",
    "DIS_UUID",
    "FEATURES_UUID",
    "HISTORY_UUID",
    "NAME_PREFIX",
    "NOT_MEASURED",
    "OP_ACKNOWLEDGE",
    "OP_CLINICIAN_BOLUS",
    "OP_PAIN_SCORE",
    "OP_PATIENT_BOLUS",
    "OP_PRIME",
    "OP_PROGRAM",
    "OP_REFILL",
    "OP_RESUME",
    "OP_RESUME_ALARM",
    "OP_SET_CLOCK",
    "OP_SILENCE",
    "OP_STOP",
    "OP_SUSPEND",
    "OP_TRIAL",
    "RACP_UUID",
    "ROLE_CLINICIAN",
    "ROLE_PATIENT",
    "SERVICE_UUID",
    "STATUS_UUID",
    "FrameError",
    "Reassembler",
    "command_message",
    "command_payload",
    "decode_alarm",
    "decode_features",
    "decode_history",
    "decode_racp",
    "decode_response",
    "decode_status",
    "encode_command",
    "is_pump",
    "kind_text",
    "program_payload",
    "racp_request",
    "result_text",
    "split",
]

DIS_UUID = 0x180A
BATTERY_UUID = 0x180F
BATTERY_LEVEL_UUID = 0x2A19
FRAME_SIZE = _frames.MIN_FRAME
NAME_PREFIX = "PUMP-"  # advertised local name: PUMP- and the last four hex digits of the board's unique id
OPCODES = {
    "program": OP_PROGRAM, "refill": OP_REFILL, "prime": OP_PRIME, "clinician_bolus": OP_CLINICIAN_BOLUS,
    "patient_bolus": OP_PATIENT_BOLUS, "suspend": OP_SUSPEND, "resume": OP_RESUME, "resume_alarm": OP_RESUME_ALARM,
    "acknowledge": OP_ACKNOWLEDGE, "silence": OP_SILENCE, "set_clock": OP_SET_CLOCK, "stop": OP_STOP,
    "trial": OP_TRIAL, "pain_score": OP_PAIN_SCORE,
}
OPCODE_NAMES = {v: k for k, v in OPCODES.items()}
PARAMS = {op: layout for op, (_roles, layout) in TABLE.items()}  # struct layout of each opcode's parameters
COMMAND_ROLES = {op: roles for op, (roles, _layout) in TABLE.items()}  # bit r set: role r may send it


class FrameError(ValueError):
    """A frame the pump's own reassembler refuses; `reason` is "short", "version", "crc", "order" or "length"."""

    def __init__(self, reason):
        super().__init__("frame refused: %s" % reason)
        self.reason = reason


def split(payload, e2e=0, frame_size=FRAME_SIZE):
    """The frames (list of bytes) of one message, at most frame_size bytes each (ATT MTU - 3)."""
    return _frames.split(bytes(payload), e2e, frame_size)


class Reassembler:
    """The firmware's reassembler: `feed(frame)` returns the message payload (bytes) when complete, else None, and
    raises FrameError for a refused frame. `e2e` is the last complete message's counter."""

    def __init__(self, cap=CMD_MAX):
        self._r = _frames.Reassembler(cap)
        self.e2e = None

    def feed(self, frame):
        status = self._r.feed(bytes(frame))
        if status == _frames.MORE:
            return None
        if status != _frames.DONE:
            raise FrameError(self._r.error)
        self.e2e = self._r.e2e
        return bytes(self._r.buf[: self._r.n])

    @staticmethod
    def unframe(frames):
        """Payload of one complete message given as one frame (bytes) or a list of frames."""
        if isinstance(frames, (bytes, bytearray, memoryview)):
            frames = [frames]
        r = Reassembler()
        payload = None
        for frame in frames:
            if payload is not None:
                raise FrameError("order")
            payload = r.feed(frame)
        if payload is None:
            raise FrameError("length")
        return payload


def is_pump(name, service_uuids=()):
    """Whether an advertiser is a pump: its local name is PUMP-xxxx, or it lists the pump service (scan response)."""
    if name and name.startswith(NAME_PREFIX):
        return True
    return SERVICE_UUID in (str(u).lower() for u in service_uuids)


# ---- commands ----
def command_payload(opcode, *values):
    """Binary parameters of an opcode from values in its layout order (PROGRAM: use program_payload)."""
    fmt = PARAMS[opcode]
    if fmt is None:
        raise ValueError("PROGRAM takes program_payload(doc)")
    return struct.pack(fmt, *values) if fmt else b""


def program_payload(doc, confirm_soft=False, confirm_battery=False):
    """PROGRAM parameters: flags (bit 0 soft limits, bit 1 a battery replacement within 90 days confirmed), then the
    prescription as compact UTF-8 JSON."""
    flags = (1 if confirm_soft else 0) | (2 if confirm_battery else 0)
    return bytes((flags,)) + json.dumps(doc, separators=(",", ":")).encode()


def pain_payload(score, baseline=False, side_effects=0, free_code=0):
    """PAIN_SCORE parameters: score, flags (bit 0: baseline), side-effect mask, free code."""
    return struct.pack(PARAMS[OP_PAIN_SCORE], score, 1 if baseline else 0, side_effects, free_code)


def command_message(key, role, counter, opcode, payload):
    """One authenticated command message: opcode, role, counter, payload, HMAC-SHA256 under `key` (the role's 32
    bytes from keys.json); `counter` must exceed the last one the pump accepted for the role (u32)."""
    body = struct.pack(HEAD, opcode, role, counter) + bytes(payload)
    message = body + hmac_sha256(key, body)
    if len(message) > CMD_MAX:
        raise ValueError("command longer than %d bytes" % CMD_MAX)
    return message


def encode_command(key, role, counter, opcode, payload, e2e=0, frame_size=FRAME_SIZE):
    """Frames of one authenticated command (command_message) for the BLE command point."""
    return split(command_message(key, role, counter, opcode, payload), e2e, frame_size)


def result_text(code):
    return "ok" if code == 0 else MESSAGES.get(code, "error %d" % code)


def decode_response(payload):
    """The command point's answer: opcode, result (0 or a pump.errors code), text, counter (the last one the pump
    accepted for the role), data (bytes, on success) and detail (the reason, on refusal)."""
    payload = bytes(payload)
    if len(payload) < RESPONSE_LEN:
        raise ValueError("response shorter than %d bytes" % RESPONSE_LEN)
    opcode, result, counter = struct.unpack_from(RESPONSE, payload)
    rest = payload[RESPONSE_LEN:]
    out = {"opcode": opcode, "command": OPCODE_NAMES.get(opcode, ""), "result": result, "text": result_text(result),
           "counter": counter, "data": rest if result == 0 else b"",
           "detail": rest.decode("utf-8", "replace") if result else ""}
    if result == 0:
        out.update(_response_data(opcode, rest))
    return out


def _response_data(opcode, data):
    if opcode == OP_PROGRAM and len(data) == struct.calcsize(PROGRAM_RESPONSE):
        eri, eos = struct.unpack(PROGRAM_RESPONSE, data)
        return {"eri_days": None if eri == NO_FORECAST else eri, "eos_days": None if eos == NO_FORECAST else eos}
    if opcode == OP_REFILL and len(data) == struct.calcsize(REFILL_RESPONSE):
        bridge, expected, tol, diff = struct.unpack(REFILL_RESPONSE, data)
        return {"bridge_nl": bridge, "expected_ul": None if expected == NOT_MEASURED else expected,
                "tolerance_ul": tol, "discrepancy_ul": diff}
    layouts = {OP_REFILL: ("<I", "bridge_nl"), OP_RESUME_ALARM: ("<H", "holds"),
               OP_ACKNOWLEDGE: ("<B", "acknowledged"), OP_SILENCE: ("<I", "silence_ms")}
    if opcode in layouts and len(data) == struct.calcsize(layouts[opcode][0]):
        fmt, name = layouts[opcode]
        return {name: struct.unpack(fmt, data)[0]}
    return {}


# ---- telemetry ----
def _alarm_list(bitmap, codes=32):
    return [code for code in range(1, codes + 1) if bitmap & (1 << (code - 1))]


def decode_status(payload):
    """The status characteristic's message as a dict (units in the names; None where the pump has no value). Version 2
    (34 bytes) or, from a recording made before it, version 1 (29 bytes: a u16 alarm bitmap, no eri_day, no flags)."""
    payload = bytes(payload)
    if len(payload) == struct.calcsize(STATUS_V1):
        values = struct.unpack(STATUS_V1, payload) + (0xFFFF, 0)
        version = 1
    else:
        values = struct.unpack(STATUS, payload)
        version = 2
    (t_s, mode, state, rate, today_nl, total_ul, reservoir_nl, empty_day, battery, alarms, pressure, eri_day,
     flags) = values
    return {
        "version": version, "t_s": t_s, "mode": mode,
        "mode_name": MODE_NAMES[mode] if mode < len(MODE_NAMES) else None,
        "state": state, "state_name": STATE_NAMES[state] if state < len(STATE_NAMES) else "state %d" % state,
        "rate_nl_per_day": rate, "today_nl": today_nl, "total_ul": total_ul, "reservoir_nl": reservoir_nl,
        "empty_day": None if empty_day == 0xFFFF else empty_day,
        "battery_pct": None if battery == 255 else battery, "alarms": _alarm_list(alarms), "alarm_bitmap": alarms,
        "pressure_kpa_x10": None if pressure == -32768 else pressure,
        "eri_day": None if eri_day == 0xFFFF else eri_day, "flags": flags, "clock_unset": bool(flags & 1),
    }


def decode_alarm(payload):
    """The alarm characteristic's message: the highest active alarm (0: none), its priority and raise time."""
    code, priority, since_s, bitmap, sounding = struct.unpack(ALARM, bytes(payload))
    return {"code": code, "name": ALARM_NAMES.get(code, ""), "priority": priority, "since_s": since_s,
            "alarms": _alarm_list(bitmap, 16), "alarm_bitmap": bitmap, "sounding": sounding}


def decode_history(payload):
    """One history record (the event log's 24-byte layout, its CRC-32 checked): seq, t_s, code, a, b, text, the
    names of a and b, and for the bolus events `kind` in words."""
    rec = _decode_record(bytes(payload)) if len(payload) == RECORD_SIZE else None
    if rec is None:
        raise ValueError("not a valid event record")
    seq, t_s, code, a, b = rec
    names = events.args(code)
    out = {"seq": seq, "t_s": t_s, "code": code, "a": a, "b": b, "text": events.text(code),
           "a_name": names[0], "b_name": names[1]}
    if names[1] == "kind":
        out["kind"] = kind_text(b)
    return out


def kind_text(kind):
    """A bolus kind (argument b of the bolus events) in words: patient, clinician, periodic; else "kind N"."""
    return events.BOLUS_NAMES[kind] if 0 < kind < len(events.BOLUS_NAMES) else "kind %d" % kind


def decode_features(payload):
    flags, cmd_max, nl_per_step, reservoir_ul = struct.unpack(FEATURES, bytes(payload))
    return {"flags": flags, "keys": bool(flags & FEATURE_KEYS), "pressure_sensor": bool(flags & FEATURE_PRESSURE),
            "encoder": bool(flags & FEATURE_ENCODER), "command_max": cmd_max, "nl_per_step": nl_per_step,
            "reservoir_ul": reservoir_ul}


# ---- history (RACP) ----
def racp_request(op, operator=racp.OPR_ALL, first=None, last=None):
    """A RACP request payload: (racp.OP_REPORT | OP_COUNT | OP_ABORT, operator, sequence numbers as it needs)."""
    if op == racp.OP_ABORT:
        return bytes((op, racp.OPR_NULL))
    if operator in (racp.OPR_LE, racp.OPR_GE):
        return struct.pack("<BBBI", op, operator, racp.FILTER_SEQ, first if operator == racp.OPR_GE else last)
    if operator == racp.OPR_RANGE:
        return struct.pack("<BBBII", op, operator, racp.FILTER_SEQ, first, last)
    return bytes((op, operator))


def decode_racp(payload):
    """A RACP answer: {"count": n} or {"request": op, "code": response code}."""
    payload = bytes(payload)
    if len(payload) == 6 and payload[0] == racp.OP_NUMBER:
        return {"count": struct.unpack_from("<I", payload, 2)[0]}
    if len(payload) == 4 and payload[0] == racp.OP_RESPONSE:
        return {"request": payload[2], "code": payload[3]}
    raise ValueError("not a RACP answer")


ROLE_BY_NAME = {name: i + 1 for i, name in enumerate(ROLE_NAMES)}
TAG_BYTES = TAG_LEN
