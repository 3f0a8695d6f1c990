"""The wired programming path: its line framing (pump.wire) and the pump's side (pump.wired) around a Pump on the
simulated board: commands authenticated and applied as on the BLE command point, one counter per role shared with
BLE, bad lines answered and nothing changed, other console lines ignored, a flood of bytes bounded."""

import struct

from board.sim import radio as bluetooth
from pump import wire
from pump.bleservice import PumpService
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT
from pump.commands import OP_PATIENT_BOLUS, OP_REFILL, OP_RESUME, OP_SUSPEND, RESPONSE
from pump.compat import heap_lock, heap_unlock, is_micropython
from pump.errors import E_AUTH, E_FRAME, E_MALFORMED, E_NO_KEYS, E_REPLAY, E_ROLE
from pump.frames import DONE, Reassembler, split
from pump.seal import STREAM_COMMAND
from pump.state import STATE_RUNNING, STATE_SUSPENDED
from pump.telemetry import STATUS
from support.aes import new_ecb
from support.blebench import handshake
from support.keys import KC, KP, command
from support.wirebench import WiredBench, answer

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def test_a_command_line_round_trips_and_names_what_is_wrong_with_a_bad_one():
    message = command(KC, ROLE_CLINICIAN, 7, OP_SUSPEND)
    line = wire.request(message)
    assert line.startswith(b"@pump cmd ") and line.endswith(b"\n") and line.count(b"\n") == 1
    assert wire.parse(line.rstrip(b"\n")) == (wire.K_COMMAND, message)
    text = line.rstrip(b"\n")
    crc = text[-8:]
    flipped = b"0" if crc[:1] != b"0" else b"1"
    bad = (
        (text[:-8] + flipped + crc[1:], "crc"),
        (text[:-1], "fields: base64 and an 8-digit CRC expected"),
        (b"@pump cmd", "not a @pump cmd line"),
        (text[:-9] + b"  " + text[-8:], "fields: base64 and an 8-digit CRC expected"),
        (text[:-8] + b"zzzzzzzz", "base64 or CRC digits"),
        (b"@pump cmd !!!! 00000000", "base64 or CRC digits"),
        (b"@pump reboot", "not a @pump cmd line"),
    )
    for line, why in bad:
        assert wire.parse(line) == (wire.K_BAD, why), line
    assert wire.parse(b"@pump status") == (wire.K_STATUS, None)
    for other in (b"", b">>> import machine", b"2026-08-01 00:00 running rate 400.0 uL/day", b"@pum", b"pump cmd x"):
        assert wire.parse(other) == (wire.K_NONE, None)
    assert wire.decode(wire.line(wire.ANSWER, b"\x01\x02"), wire.ANSWER) == b"\x01\x02"


def test_lines_end_at_cr_or_lf_skip_empty_ones_and_a_flood_is_cut_without_allocating():
    lines = wire.Lines()
    got = []
    for b in b"one\r\ntwo\n\n\rthree\r":
        if lines.feed(b):
            got.append((lines.text(), lines.overflow))
    assert got == [(b"one", False), (b"two", False), (b"three", False)]
    flood = wire.LINE_MAX + 100
    if is_micropython():
        heap_lock()  # a flood of bytes without a line end takes no heap
    try:
        ended = False
        i = 0
        while i < flood:  # not `for ... in range()`: a range object is an allocation
            ended = ended or lines.feed(65)
            i += 1
    finally:
        heap_unlock()
    assert not ended
    assert lines.feed(10) and lines.overflow and lines.n == wire.LINE_MAX
    assert not lines.feed(66) and lines.feed(10) and (lines.text(), lines.overflow) == (b"B", False)


def test_commands_on_the_wire_run_as_on_the_command_point_and_answer_on_their_own_line():
    b = WiredBench()
    assert b.send(KC, ROLE_CLINICIAN, 1, OP_SUSPEND) == (OP_SUSPEND, 0, 1, b"")
    assert b.rig.pump.suspended and b.changed == 1 and b.wired.commands == 1
    assert b.printed[-1].startswith("@pump ans ") and "\n" not in b.printed[-1]
    assert b.send(KC, ROLE_CLINICIAN, 2, OP_REFILL, struct.pack("<II", 15000, 0))[:3] == (OP_REFILL, 0, 2)
    assert b.rig.pump.reservoir.remaining_ul == 15000
    assert b.send(KC, ROLE_CLINICIAN, 3, OP_RESUME)[:3] == (OP_RESUME, 0, 3)
    assert not b.rig.pump.suspended
    assert b.send(KP, ROLE_PATIENT, 1, OP_PATIENT_BOLUS)[:3] == (OP_PATIENT_BOLUS, 0, 1)


def test_forged_replayed_and_wrong_role_lines_are_refused_and_change_nothing():
    b = WiredBench()
    assert b.send(KC, ROLE_CLINICIAN, 5, OP_SUSPEND)[:2] == (OP_SUSPEND, 0)
    b.rig.pump.resume()
    for key, role, counter, opcode, code in (
        (KC, ROLE_CLINICIAN, 5, OP_SUSPEND, E_REPLAY),  # the same line again
        (KC, ROLE_CLINICIAN, 4, OP_SUSPEND, E_REPLAY),
        (KP, ROLE_CLINICIAN, 6, OP_SUSPEND, E_AUTH),  # the patient's key as the clinician
        (KP, ROLE_PATIENT, 1, OP_SUSPEND, E_ROLE),
    ):
        assert b.send(key, role, counter, opcode)[:3] == (opcode, code, b.auth.last_counter(role))
        assert not b.rig.pump.suspended
    b = WiredBench(keys=None)
    assert b.send(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)[:2] == (OP_SUSPEND, E_NO_KEYS)
    assert not b.rig.pump.suspended


def test_a_bad_line_for_the_pump_is_answered_and_other_lines_are_ignored():
    b = WiredBench()
    text = wire.request(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)).rstrip(b"\n")
    assert answer(b.wired.line(text[:-8] + b"00000000")) == (0, E_FRAME, 0, b"crc")
    assert answer(b.wired.line(b"@pump cmd " + b"A" * 10, overflow=True)) == (0, E_FRAME, 0, b"length")
    assert not b.rig.pump.suspended and b.changed == 0
    assert answer(b.wired.line(wire.request(b"").rstrip(b"\n"))) == (0, E_MALFORMED, 0, b"")  # empty: no fault
    assert answer(b.wired.line(wire.request(b"\x06").rstrip(b"\n")))[:2] == (6, E_MALFORMED)
    for other in (b"help()", b"x" * 100):
        assert b.wired.line(other) is None
        assert b.wired.line(other, overflow=True) is None
    assert len(b.printed) == 4
    assert b.send(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)[:2] == (OP_SUSPEND, 0)  # the bad line used no counter


def test_the_status_line_carries_the_status_characteristics_layout():
    b = WiredBench()
    st = struct.unpack(STATUS, wire.decode(b.wired.line(b"@pump status"), wire.STATUS))
    assert st[2] == STATE_RUNNING and st[6] == 20000000  # state, reservoir nL
    b.send(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)
    st = struct.unpack(STATUS, wire.decode(b.wired.line(b"@pump status"), wire.STATUS))
    assert st[2] == STATE_SUSPENDED and b.changed == 1  # a status request changes nothing


def test_one_counter_per_role_whatever_the_link_a_wired_command_cannot_replay_over_ble():
    b = WiredBench()
    radio = bluetooth.BLE()
    svc = PumpService(radio, bluetooth, b.rig.pump, b.rig.storage, b.rig.hw.uid_hex, "9.9.9", b.rig.clock,
                      urandom=bytes, out=b.printed.append, auth=b.auth, new_ecb=new_ecb)
    assert svc.auth is b.auth
    radio.connect()
    if radio.pairing:
        radio.encrypt(authenticated=True)
    central = handshake(radio, svc, lambda: svc.run(b.rig.now))
    assert b.send(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)[:2] == (OP_SUSPEND, 0)
    b.rig.pump.resume()
    sealed = central.seal(STREAM_COMMAND, command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND))  # the same message, over BLE
    for frame in split(sealed, 1):
        radio.write(svc.h_command, frame)
    for _ in range(10):  # the phone confirms every indication
        svc.run(b.rig.now)
        radio.indicate_done()
    r = Reassembler(256)
    done = [f for f in radio.of(svc.h_command, "indicated") if r.feed(f) == DONE]
    assert len(done) == 1
    answer = central.open(STREAM_COMMAND, bytes(r.buf[: r.n]))
    assert struct.unpack_from(RESPONSE, answer, 0)[:2] == (OP_SUSPEND, E_REPLAY)
    assert not b.rig.pump.suspended
