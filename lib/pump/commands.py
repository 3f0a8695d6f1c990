"""BLE commands: opcodes, the roles allowed to send each, parameter layouts, their application to the Pump, and the
response. A command is authenticated first (pump.cmdauth), then applied by the Pump's own methods, which validate
everything before changing anything: a refused command changes nothing (it only uses up its counter).

Response (indicated on the command point): opcode u8, result u16 (0 or a pump.errors code), counter u32 (the last
counter the pump accepted for the command's role), then the opcode's data on success or a short reason on refusal.
"""

import hashlib
import json
import struct

from pump.cmdauth import HEAD_LEN, TAG_LEN
from pump.compat import const
from pump.errors import E_MALFORMED, PumpError

# flags u8 (bit 0: confirm soft limits; bit 1: confirm a battery replacement within 90 days), then the prescription
# as UTF-8 JSON -> eri_days u16, eos_days u16 (the battery forecast at the new program; 0xFFFF: cannot be computed)
OP_PROGRAM = const(1)
# fill_ul u32, concentration_ug_per_ml u32 (0: unchanged), aspirated_ul u32 (0xFFFFFFFF: not measured; the older
# 8-byte layout without it means not measured) -> bridge_nl u32 (old drug left), expected_ul u32 (the expected
# residual, 0xFFFFFFFF: unknown), tolerance_ul u32, discrepancy i32 (aspirated - expected beyond the tolerance, else 0)
OP_REFILL = const(2)
OP_PRIME = const(3)  # volume_ul u16 (0: the catheter volume)
OP_CLINICIAN_BOLUS = const(4)  # dose_ng u32, duration_min u16, flags u8 (bit 0: confirm soft limits)
OP_PATIENT_BOLUS = const(5)
OP_SUSPEND = const(6)
OP_RESUME = const(7)
OP_RESUME_ALARM = const(8)  # release safety holds whose condition is gone -> holds still in force u16
OP_ACKNOWLEDGE = const(9)  # alarm code u8 (0: all) -> acknowledged u8
OP_SILENCE = const(10)  # ms u32 -> ms granted u32
OP_SET_CLOCK = const(11)  # wall clock u32, s since 2000-01-01 00:00 UTC
OP_STOP = const(12)
OP_TRIAL = const(13)  # flags u8 (bit 0: confirm soft limits), then the trial program as UTF-8 JSON (pump.trial)
OP_PAIN_SCORE = const(14)  # score u8 (0-10), flags u8 (bit 0: baseline), side effects u16 (pump.trial.SIDE_EFFECTS
# bits), free code u16 (0: none)

_C = const(2)  # 1 << cmdauth.ROLE_CLINICIAN
_P = const(4)  # 1 << cmdauth.ROLE_PATIENT
# opcode: (roles allowed, parameter layout; None: program)
TABLE = {
    OP_PROGRAM: (_C, None),
    OP_REFILL: (_C, "<III"),
    OP_PRIME: (_C, "<H"),
    OP_CLINICIAN_BOLUS: (_C, "<IHB"),
    OP_PATIENT_BOLUS: (_P, ""),
    OP_SUSPEND: (_C, ""),
    OP_RESUME: (_C, ""),
    OP_RESUME_ALARM: (_C, ""),
    OP_ACKNOWLEDGE: (_C | _P, "<B"),
    OP_SILENCE: (_C | _P, "<I"),
    OP_SET_CLOCK: (_C, "<I"),
    OP_STOP: (_C, ""),
    OP_TRIAL: (_C, None),
    OP_PAIN_SCORE: (_C | _P, "<BBHH"),
}
# the commands that change therapy: each one that authenticates is logged with its role, counter, result and content
# hash (events COMMAND and CONTENT), applied or refused (acknowledge, silence and pain scores change no therapy)
AUDITED = (OP_PROGRAM, OP_REFILL, OP_PRIME, OP_CLINICIAN_BOLUS, OP_PATIENT_BOLUS, OP_SUSPEND, OP_RESUME,
           OP_RESUME_ALARM, OP_SET_CLOCK, OP_STOP, OP_TRIAL)
RESPONSE = "<BHI"
RESPONSE_LEN = const(7)
REFILL_RESPONSE = "<IIIi"
PROGRAM_RESPONSE = "<HH"
NO_FORECAST = const(0xFFFF)  # a battery forecast that cannot be computed (no trusted reading)
NOT_MEASURED = 0xFFFFFFFF  # a refill's aspirated volume not measured, its expected residual unknown (the wire's None)
_REFILL_OLD_LEN = const(8)  # fill and concentration only: a programmer from before the aspirated volume


def roles_for(opcode):
    """Bitmask of the roles (bit r for role r) that may send `opcode`, None for an unknown opcode."""
    e = TABLE.get(opcode)
    return e[0] if e is not None else None


def execute(pump, auth, msg, n, now):
    """Authenticate and apply the command in msg[:n]; returns (result code, data bytes or reason text)."""
    code = auth.verify(msg, n, now, roles_for)
    if code:
        return code, ""
    params = memoryview(msg)[HEAD_LEN : n - TAG_LEN]
    try:
        code, out = 0, _apply(pump, msg[0], params, now, auth.role)
    except PumpError as e:
        code, out = e.code, e.detail
    if msg[0] in AUDITED:
        lo, hi = content_hash(params)
        pump.audit(auth.counter, msg[0] | auth.role << 8 | code << 16, lo, hi)
    return code, out


def content_hash(params):
    """(lo, hi): the first 8 bytes of SHA-256 of a command's parameters as two little-endian i32, the CONTENT event's
    arguments; 2**-64 is the chance that another content gives the same."""
    return struct.unpack("<ii", hashlib.sha256(bytes(params)).digest()[:8])


def _json_params(p, what):
    """(flags byte, the JSON object) of a program's or a trial's parameters."""
    if not len(p):
        raise PumpError(E_MALFORMED, "%s: flags" % what)
    try:
        doc = json.loads(bytes(p[1:]))
    except (ValueError, RuntimeError):  # RuntimeError: nested too deep for the parser
        raise PumpError(E_MALFORMED, "%s: not JSON" % what)
    if type(doc) is not dict:
        raise PumpError(E_MALFORMED, "%s: must be an object" % what)
    return p[0], doc


def _apply(pump, op, p, now, role):
    fmt = TABLE[op][1]
    if fmt is None:
        flags, doc = _json_params(p, "program" if op == OP_PROGRAM else "trial")
        if op == OP_TRIAL:
            pump.set_trial(doc, bool(flags & 1), now)
            return b""
        pump.program(doc, bool(flags & 1), now, True, bool(flags & 2))
        f = pump.forecast
        return struct.pack(PROGRAM_RESPONSE, _days(f.eri_days), _days(f.eos_days))
    if op == OP_REFILL and len(p) == _REFILL_OLD_LEN:
        p = bytes(p) + b"\xff\xff\xff\xff"  # not measured
    if len(p) != struct.calcsize(fmt):
        raise PumpError(E_MALFORMED, "parameters: %d bytes expected" % struct.calcsize(fmt))
    a = struct.unpack(fmt, p)
    if op == OP_REFILL:
        pump.refill(a[0], a[1] or None, now, None if a[2] == NOT_MEASURED else a[2])
        expected, _aspirated, tol, diff = pump.last_refill
        return struct.pack(REFILL_RESPONSE, pump.plan.catheter.old_nl, NOT_MEASURED if expected is None else expected,
                           tol, diff)
    if op == OP_PRIME:
        pump.prime(a[0] or None, now)
    elif op == OP_CLINICIAN_BOLUS:
        pump.clinician_bolus_ng(a[0], a[1], bool(a[2] & 1), now)
    elif op == OP_PATIENT_BOLUS:
        pump.patient_bolus(now)
    elif op == OP_SUSPEND:
        pump.suspend(now)
    elif op == OP_RESUME:
        pump.resume(now)
    elif op == OP_RESUME_ALARM:
        return struct.pack("<H", pump.resume_after_alarm(now))
    elif op == OP_ACKNOWLEDGE:
        return struct.pack("<B", pump.acknowledge(a[0], now))
    elif op == OP_SILENCE:
        return struct.pack("<I", pump.silence(a[0], now))
    elif op == OP_SET_CLOCK:
        pump.set_clock(a[0], now)
    elif op == OP_STOP:
        pump.stop(now)
    elif op == OP_PAIN_SCORE:
        pump.pain_score(a[0], bool(a[1] & 1), a[2], a[3], role, now)
    return b""


def _days(days):
    return NO_FORECAST if days is None else min(days, NO_FORECAST - 1)


def pack_response(buf, opcode, code, counter, data):
    """Response message into buf; returns its length (data or reason cut to what buf holds)."""
    struct.pack_into(RESPONSE, buf, 0, opcode, code, counter)
    if type(data) is str:
        data = data.encode()
    m = min(len(data), len(buf) - RESPONSE_LEN)
    buf[RESPONSE_LEN : RESPONSE_LEN + m] = data[:m]
    return RESPONSE_LEN + m
