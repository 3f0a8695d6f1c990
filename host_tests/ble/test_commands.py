"""BLE commands (pump.commands) on a recording Pump: each opcode's parameters decoded and passed to its Pump method at
the command's time, the answer data packed unsigned over the field's whole width, malformed parameters refused with
their reason before the Pump is called, and a refused authentication answered with no reason at all."""

import struct

from support.flash import FakeStorage
from support.recpump import RecordingPump
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT, CommandAuth, parse_keys
from pump.commands import (AUDITED, OP_ACKNOWLEDGE, OP_CLINICIAN_BOLUS, OP_PAIN_SCORE, OP_PATIENT_BOLUS, OP_PRIME,
                           OP_PROGRAM, OP_REFILL, OP_RESUME, OP_RESUME_ALARM, OP_SET_CLOCK, OP_SILENCE, OP_STOP,
                           OP_SUSPEND, OP_TRIAL, RESPONSE, RESPONSE_LEN, content_hash, execute, pack_response)
from pump.compat import ticks_add
from pump.errors import E_AUTH, E_MALFORMED, E_STATE, PumpError
from support.keys import KC, KEY_DOC, KP, T0, command

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


class Link:
    """execute() on a RecordingPump and a CommandAuth, each command signed with the next counter of its role, the
    clock one second further each time."""

    def __init__(self, **answers):
        self.pump = RecordingPump(**answers)
        self.auth = CommandAuth(FakeStorage(), parse_keys(KEY_DOC), lambda *a: None, T0)
        self.counter = {ROLE_CLINICIAN: 0, ROLE_PATIENT: 0}
        self.now = T0

    def send(self, opcode, params=b"", role=ROLE_CLINICIAN, key=None):
        self.counter[role] += 1
        msg = bytearray(command(key or (KC if role == ROLE_CLINICIAN else KP), role, self.counter[role], opcode,
                                params))
        self.now = ticks_add(self.now, 1000)
        return execute(self.pump, self.auth, msg, len(msg), self.now)


def test_each_command_calls_its_pump_method_with_the_decoded_parameters_at_the_command_time():
    top32, top16, top8 = 0xFFFFFFFF, 0xFFFF, 0xFF
    link = Link(bridge_nl=top32, holds=top16, acknowledged=top8, granted_ms=top32,
                last_refill=(40000, 0, 6000, -40000), forecast=(89, 100000))
    forecast = struct.pack("<HH", 89, 0xFFFE)  # days to ERI and EOS; more than a u16 shows is its top
    refilled = struct.pack("<IIIi", top32, 40000, 6000, -40000)  # bridge, expected, tolerance, difference
    cases = (
        # opcode, parameters, role, the call without its time, the answer data
        (OP_PROGRAM, b'\x01{"a": [1]}', ROLE_CLINICIAN, ("program", {"a": [1]}, True, True, False), forecast),
        (OP_PROGRAM, b"\x00{}", ROLE_CLINICIAN, ("program", {}, False, True, False), forecast),
        # bit 0 confirms soft limits, bit 1 a battery replacement within 90 days, no other bit anything
        (OP_PROGRAM, b"\x02{}", ROLE_CLINICIAN, ("program", {}, False, True, True), forecast),
        (OP_PROGRAM, b"\xfc{}", ROLE_CLINICIAN, ("program", {}, False, True, False), forecast),
        # the older layout without the aspirated volume: not measured
        (OP_REFILL, struct.pack("<II", 20000, 0), ROLE_CLINICIAN, ("refill", 20000, None, None), refilled),
        (OP_REFILL, struct.pack("<II", 1, top32), ROLE_CLINICIAN, ("refill", 1, top32, None), refilled),
        (OP_REFILL, struct.pack("<III", 1, 0, top32), ROLE_CLINICIAN, ("refill", 1, None, None), refilled),
        (OP_REFILL, struct.pack("<III", 1, 0, 0), ROLE_CLINICIAN, ("refill", 1, None, 0), refilled),
        # the pump judges the volume (pump.refillcheck), not the command layer: one below "not measured" reaches it
        (OP_REFILL, struct.pack("<III", 1, 0, top32 - 1), ROLE_CLINICIAN, ("refill", 1, None, top32 - 1), refilled),
        (OP_PRIME, struct.pack("<H", 0), ROLE_CLINICIAN, ("prime", None), b""),
        (OP_PRIME, struct.pack("<H", top16), ROLE_CLINICIAN, ("prime", top16), b""),
        (OP_CLINICIAN_BOLUS, struct.pack("<IHB", top32, 30, 1), ROLE_CLINICIAN,
         ("clinician_bolus_ng", top32, 30, True), b""),
        (OP_CLINICIAN_BOLUS, struct.pack("<IHB", 5, top16, 0xFE), ROLE_CLINICIAN,
         ("clinician_bolus_ng", 5, top16, False), b""),
        (OP_PATIENT_BOLUS, b"", ROLE_PATIENT, ("patient_bolus",), b""),
        (OP_SUSPEND, b"", ROLE_CLINICIAN, ("suspend",), b""),
        (OP_RESUME, b"", ROLE_CLINICIAN, ("resume",), b""),
        (OP_RESUME_ALARM, b"", ROLE_CLINICIAN, ("resume_after_alarm",), struct.pack("<H", top16)),
        (OP_ACKNOWLEDGE, struct.pack("<B", 7), ROLE_PATIENT, ("acknowledge", 7), struct.pack("<B", top8)),
        (OP_SILENCE, struct.pack("<I", top32), ROLE_CLINICIAN, ("silence", top32), struct.pack("<I", top32)),
        (OP_SET_CLOCK, struct.pack("<I", top32), ROLE_CLINICIAN, ("set_clock", top32), b""),
        (OP_STOP, b"", ROLE_CLINICIAN, ("stop",), b""),
        (OP_TRIAL, b'\x01{"t": 1}', ROLE_CLINICIAN, ("set_trial", {"t": 1}, True), b""),
        (OP_TRIAL, b"\x00{}", ROLE_CLINICIAN, ("set_trial", {}, False), b""),
        (OP_PAIN_SCORE, struct.pack("<BBHH", 10, 1, top16, top16), ROLE_PATIENT,
         ("pain_score", 10, True, top16, top16, ROLE_PATIENT), b""),
        (OP_PAIN_SCORE, struct.pack("<BBHH", 0, 0xFE, 0, 0), ROLE_CLINICIAN,
         ("pain_score", 0, False, 0, 0, ROLE_CLINICIAN), b""),
    )
    audited = 0
    for opcode, params, role, call, data in cases:
        answer = link.send(opcode, params, role)
        assert answer == (0, data), (opcode, params, answer)
        assert link.pump.calls[-1] == call + (link.now,), (opcode, link.pump.calls[-1])
        if opcode in AUDITED:  # the audit: counter, opcode | role << 8 (applied: result 0), the parameters' hash
            audited += 1
            lo, hi = content_hash(params)
            assert link.pump.audits[-1] == (link.counter[role], opcode | role << 8, lo, hi), opcode
        assert len(link.pump.audits) == audited, opcode  # acknowledge, silence, pain scores: not therapy, no audit
    assert len(link.pump.calls) == len(cases)


def test_an_audited_command_the_pump_refuses_is_logged_with_its_result_and_one_not_authentic_is_not():
    link = Link()
    link.pump.suspend = lambda now=None: (_ for _ in ()).throw(PumpError(E_STATE, "no"))
    assert link.send(OP_SUSPEND)[0] == E_STATE
    assert link.pump.audits == [(1, OP_SUSPEND | ROLE_CLINICIAN << 8 | E_STATE << 16) + content_hash(b"")]
    assert link.send(OP_STOP, key=KP)[0] == E_AUTH  # not authentic: no counter to log, nothing logged
    assert len(link.pump.audits) == 1


def test_the_content_hash_is_the_first_8_bytes_of_sha256_as_two_signed_little_endian_ints():
    # vector: SHA-256("abc") = ba7816bf 8f01cfea ...: the arguments read as i32 little-endian, the high bit signed
    assert content_hash(b"abc") == (-1089046342, -355532401)  # 0xbf1678ba, 0xeacf018f
    assert content_hash(memoryview(b"xabc")[1:]) == content_hash(b"abc")


def test_malformed_parameters_are_refused_with_their_reason_before_the_pump_is_called():
    link = Link()
    cases = (
        (OP_PROGRAM, b"", "program: flags"),
        (OP_PROGRAM, b"\x00{", "program: not JSON"),
        (OP_PROGRAM, b"\x00[1]", "program: must be an object"),
        (OP_PRIME, b"\x00", "parameters: 2 bytes expected"),
        (OP_REFILL, struct.pack("<IIII", 1, 2, 3, 4), "parameters: 12 bytes expected"),
        (OP_REFILL, struct.pack("<I", 1), "parameters: 12 bytes expected"),
        (OP_SUSPEND, b"\x00", "parameters: 0 bytes expected"),
    )
    for opcode, params, reason in cases:
        assert link.send(opcode, params) == (E_MALFORMED, reason), (opcode, params)
    assert link.pump.calls == []


def test_a_battery_forecast_that_cannot_be_computed_answers_so():
    link = Link(forecast=(None, None))
    assert link.send(OP_PROGRAM, b"\x00{}") == (0, b"\xff\xff\xff\xff")


def test_a_refill_whose_expected_residual_is_unknown_answers_not_measured():
    link = Link(last_refill=(None, 500, 1000, 0))
    assert link.send(OP_REFILL, struct.pack("<III", 20000, 0, 500)) == (0, struct.pack("<IIIi", 0, 0xFFFFFFFF, 1000, 0))


def test_a_command_refused_by_authentication_has_no_reason_and_reaches_nothing():
    link = Link()
    assert link.send(OP_SUSPEND, key=KP) == (E_AUTH, "")  # signed with the patient's key
    assert link.pump.calls == []


def test_the_answer_is_packed_into_the_buffer_in_place_and_cut_to_it():
    buf = bytearray(b"\xee" * 20)
    n = pack_response(buf, OP_SILENCE, 0, 0xFFFFFFFF, b"\x01\x02")
    assert n == RESPONSE_LEN + 2 and len(buf) == 20  # the preallocated buffer neither grows nor moves
    assert struct.unpack_from(RESPONSE, buf, 0) == (OP_SILENCE, 0, 0xFFFFFFFF)
    assert bytes(buf[RESPONSE_LEN:n]) == b"\x01\x02" and bytes(buf[n:]) == b"\xee" * (20 - n)
    n = pack_response(buf, OP_PROGRAM, E_MALFORMED, 3, "program: must be an object")  # a reason, as UTF-8
    assert n == 20 and len(buf) == 20 and bytes(buf[RESPONSE_LEN:]) == b"program: must"
