"""The pump's BLE service on the recording fake radio (board.sim.radio), around a Pump on the simulated board: GATT
layout, advertising, security gates, status on change at a bounded rate, alarm indications, every command through
frames, HMAC and counters, malformed frames answered, history over RACP, bonds, pairing, reconnection. The bench
(service + fake radio + Rig) is support/blebench.py's.
"""

import struct

from board.sim import radio as bluetooth
from pump import events as ev
from pump import racp
from pump.alarms import A_OCCLUSION_SENSING_UNAVAILABLE, PRIO_LOW
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT
from pump.commands import (OP_ACKNOWLEDGE, OP_CLINICIAN_BOLUS, OP_PATIENT_BOLUS, OP_PRIME, OP_PROGRAM, OP_REFILL,
                           OP_RESUME, OP_RESUME_ALARM, OP_SET_CLOCK, OP_SILENCE, OP_STOP, OP_SUSPEND, content_hash)
from pump.errors import (E_AUTH, E_AUTH_LOCKOUT, E_FRAME, E_HARD_LIMIT, E_INSECURE, E_LOCKOUT, E_MALFORMED,
                         E_NO_KEYS, E_REPLAY, E_ROLE, E_STATE, PumpError)
from pump.eventlog import decode as decode_record
from pump.seal import STREAM_COMMAND, STREAM_RACP
from pump.frames import DONE, Reassembler, split
from pump.gatt import (ALARM_UUID, COMMAND_UUID, FEATURE_ENCODER, FEATURE_KEYS, FEATURES, FEATURES_UUID, HISTORY_UUID,
                       RACP_UUID, SERVICE_UUID, STATUS_UUID)
from pump.state import STATE_RUNNING, STATE_SUSPENDED
from pump.telemetry import ALARM
from support.blebench import Bench, snapshot
from support.keys import KC, KP, command
from support.plan import HOUR_MS
from support.rig import PB, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

CONN = bluetooth.CONN
_GATTS_ERROR_INSUFFICIENT_ENCRYPTION = 0x0F


# ---- layout ----


def test_gatt_layout_descriptors_and_static_values():
    b = Bench()
    r = b.radio
    svc = b.svc
    uuids = [s[0] for s in r.services]
    assert uuids == [bluetooth.UUID(0x180A), bluetooth.UUID(0x180F), bluetooth.UUID(SERVICE_UUID)]
    assert [r.values[r.handle(u)] for u in (0x2A29, 0x2A24, 0x2A25, 0x2A26)] == [
        b"pump prototype", b"sim", b"5e4d000000000001", b"9.9.9"]
    assert r.flags[svc.h_battery] == bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY
    expected = (
        (STATUS_UUID, svc.h_status, bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_READ_ENCRYPTED),
        (ALARM_UUID, svc.h_alarm, bluetooth.FLAG_READ | bluetooth.FLAG_INDICATE | bluetooth.FLAG_READ_ENCRYPTED),
        (RACP_UUID, svc.h_racp, bluetooth.FLAG_WRITE | bluetooth.FLAG_INDICATE | bluetooth.FLAG_WRITE_ENCRYPTED),
        (HISTORY_UUID, svc.h_history, bluetooth.FLAG_NOTIFY),
        (COMMAND_UUID, svc.h_command,
         bluetooth.FLAG_WRITE | bluetooth.FLAG_INDICATE | bluetooth.FLAG_WRITE_AUTHENTICATED),
        (FEATURES_UUID, svc.h_features, bluetooth.FLAG_READ),
    )
    for uuid, handle, flags in expected:
        assert r.handle(uuid) == handle and r.flags[handle] == flags
        desc, fmt = [h for h in sorted(r.uuids) if h > handle][:2]
        assert r.uuids[desc] == bluetooth.UUID(0x2901) and r.values[desc]  # a user description
        assert r.uuids[fmt] == bluetooth.UUID(0x2904) and len(r.values[fmt]) == 7
        assert r.values[fmt][0] == 0x1B  # presentation format: struct
    assert r.values[r.handle(0x2904)] == b"\x04\x00\xad\x27\x01\x00\x00"  # battery: uint8, percentage
    assert r.values[r.handle(0x2901)] == b"Pump status"
    flags, cmd_max, nl_per_step, reservoir_ul = struct.unpack(FEATURES, Reassemble(r.values[svc.h_features]))
    assert flags == FEATURE_KEYS | FEATURE_ENCODER and cmd_max == 3072 and nl_per_step == 200 and reservoir_ul == 40000
    assert r.limits[svc.h_command] == (244, False) and r.limits[svc.h_racp] == (244, False)
    assert r.config_values["bond"] and r.config_values["le_secure"] and r.config_values["mitm"]
    assert r.config_values["io"] == 0 and r.config_values["gap_name"] == "PUMP-0001"


def Reassemble(frame):
    r = Reassembler(256)
    assert r.feed(frame) == DONE
    return bytes(r.buf[: r.n])


def test_advertising_name_and_service_uuid_fit_and_resume_after_a_disconnect():
    b = Bench()
    interval_us, adv, resp, connectable = b.radio.adverts[-1]
    assert connectable and interval_us == 1000000 and len(adv) <= 31 and len(resp) <= 31
    assert adv == b"\x02\x01\x06\x0a\x09PUMP-0001"
    assert resp[:2] == b"\x11\x07" and bluetooth.UUID(resp[2:]) == bluetooth.UUID(SERVICE_UUID)
    b.connect()
    assert len(b.radio.adverts) == 1
    b.radio.connect(conn=65)  # a second central while one is connected is turned away
    assert b.radio.disconnects == [65] and b.svc.conn == CONN
    b.radio.disconnect(conn=65)
    assert b.svc.conn == CONN and len(b.radio.adverts) == 1
    b.radio.disconnect()
    assert b.svc.conn is None and len(b.radio.adverts) == 2 and b.radio.adverts[-1] == b.radio.adverts[0]
    assert b.radio.values[b.svc.h_status] == b"" and b.radio.values[b.svc.h_alarm] == b""  # nothing left to read
    assert b.run() == -1
    b.connect()
    assert b.svc.conn == CONN and len(b.messages(b.svc.h_status)) == 2  # the new central gets the status at once


# ---- security gates ----


def test_nothing_protected_before_encryption_and_commands_need_mitm():
    b = Bench()
    r = b.radio
    r.connect()
    assert r.pair_requests == [CONN]  # the pump asks the central to pair or encrypt at once
    assert b.run() == 5000  # nothing to send before a session; the task wakes at the session's deadline
    assert r.of(b.svc.h_status) == [] and r.indicated == []
    assert r.read(b.svc.h_status) == (_GATTS_ERROR_INSUFFICIENT_ENCRYPTION, b"")
    assert r.read(b.svc.h_alarm)[0] == _GATTS_ERROR_INSUFFICIENT_ENCRYPTION
    assert r.read(b.svc.h_features)[0] == 0
    before = snapshot(b)
    b.write_frames(b.svc.h_command, split(command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND), 0))
    b.settle()
    assert b.last_answer()[1] == E_INSECURE
    assert b.racp(bytes((racp.OP_COUNT, racp.OPR_ALL))) == [bytes((racp.OP_RESPONSE, 0, 0, racp.RC_INSECURE))]
    r.encrypt(authenticated=False)  # Just Works: encrypted, not MITM-protected
    b.settle()
    assert r.of(b.svc.h_status) == []  # still no session: nothing
    b.open_session()
    assert len(b.messages(b.svc.h_status)) == 1 and len(b.messages(b.svc.h_alarm, "indicated")) == 1
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND)[1] == E_INSECURE  # the command point also needs the MITM bond
    assert snapshot(b) == before
    r.encrypt(authenticated=True)
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND)[1] == 0 and b.rig.pump.suspended


# ---- telemetry ----


def test_status_is_notified_on_change_at_a_bounded_rate():
    b = Bench()
    b.connect()
    pump = b.rig.pump
    frames = b.radio.of(b.svc.h_status)
    assert [len(f) for f in frames] == [20, 20, 20, 15]  # 34 bytes sealed (55) in four frames at the default MTU
    (t_s, mode, state, rate, today, total, res_nl, empty_day, battery, alarms, pressure, eri_day, flags) = b.status()
    assert t_s == pump.wall_s(b.now) and mode == 1 and state == STATE_RUNNING
    assert rate == 400000 and today == pump.c.delivered_today_nl and total == pump.c.total_ul
    empty_days = pump.state(b.now).empty_days
    assert res_nl == pump.reservoir.remaining_nl and empty_day == pump.plan.cal.day + empty_days
    assert battery == 100 and alarms == 1 << (A_OCCLUSION_SENSING_UNAVAILABLE - 1) and pressure == -32768
    eri_days = pump.forecast.eri_days
    assert eri_day == (0xFFFF if eri_days is None else pump.plan.cal.day + eri_days) and flags == 0
    read = b.radio.values[b.svc.h_status]  # the readable value: the same message in one frame
    assert Reassemble(read) == b.raw_messages(b.svc.h_status)[-1] and read[1] == frames[0][1]  # sealed, as notified
    sent = len(frames)
    for _ in range(5):  # nothing changed but the time: nothing sent, however often it runs, and no wake-up asked
        b.rig.clock.t_ms += 1000
        assert b.run() == -1
    assert len(b.radio.of(b.svc.h_status)) == sent
    b.rig.run(120000)  # about three steps at 0.4 mL/day
    b.run()
    assert len(b.radio.of(b.svc.h_status)) == sent + 4 and b.status()[4] > today
    b.rig.run(120000)
    b.rig.clock.t_ms -= 1  # inside the interval after the last notification... the change waits
    b.svc._status_due = b.now + 500
    assert b.run() == 500  # ... and the task asks to run again when it may go
    assert len(b.radio.of(b.svc.h_status)) == sent + 4
    b.rig.clock.t_ms += 500
    b.run()
    assert len(b.radio.of(b.svc.h_status)) == sent + 8  # four frames per status
    counters = [f[1] for f in b.radio.of(b.svc.h_status)]
    assert counters == [counters[0] + i // 4 for i in range(12)]


def test_larger_mtu_one_frame_and_slow_connections_space_the_notifications():
    b = Bench()
    b.connect(mtu=185)
    assert [len(f) for f in b.radio.of(b.svc.h_status)] == [60]  # 34 + 21 sealed + 5
    b = Bench()
    b.connect()
    b.rig.run(120000)
    assert b.run() == -1  # sent; nothing more to do until the pump changes again
    assert b.run() == 1000  # a 50 ms connection interval carries four frames well within the 1 s status interval
    b.radio.update_connection(800)  # 1 s connection interval: four frames need 4 s
    n = len(b.radio.of(b.svc.h_status))
    b.rig.run(120000)
    assert b.run() == -1
    assert b.run() == 4000  # sent, and the next status waits for four connection intervals
    assert len(b.radio.of(b.svc.h_status)) == n + 4
    b.rig.run(120000)
    b.rig.clock.t_ms -= 120000 - 3999
    b.run()
    assert len(b.radio.of(b.svc.h_status)) == n + 4


def test_a_full_stack_buffer_is_retried():
    b = Bench()
    b.connect()
    n = len(b.radio.notified)
    b.rig.run(120000)
    b.radio.notify_error = 12  # ENOMEM: the stack has no buffer left
    b.rig.clock.t_ms += 1000
    b.run()
    assert len(b.radio.notified) == n
    b.radio.notify_error = None
    b.rig.clock.t_ms += 1000
    b.run()
    assert len(b.radio.notified) == n + 4


def test_alarm_indications_one_at_a_time_and_on_change():
    b = Bench()
    b.radio.connect()
    b.radio.encrypt()
    b.open_session()  # settles: the sealed alarm (30 bytes) went out in two frames, one confirmed before the next
    al = b.svc.h_alarm
    assert len(b.radio.of(al, "indicated")) == 2 and len(b.messages(al, "indicated")) == 1
    code, prio, since_s, bitmap, sounding = struct.unpack(ALARM, b.messages(al, "indicated")[-1])
    assert (code, prio, bitmap) == (A_OCCLUSION_SENSING_UNAVAILABLE, PRIO_LOW, 1 << (code - 1))
    assert since_s == b.rig.pump.wall_s(b.now) and sounding == code
    # the readable value, once the indications are over, is the whole sealed message in one frame (a central reading
    # the alarm finds it, not the last fragment the indications left)
    read = b.radio.values[al]
    assert Reassemble(read) == b.raw_messages(al, "indicated")[-1] and len(read) > len(b.radio.of(al, "indicated")[-1])
    opcode, result, _, data = b.send(ROLE_PATIENT, OP_ACKNOWLEDGE, b"\x00")
    assert (opcode, result, data) == (OP_ACKNOWLEDGE, 0, b"\x01")
    code, prio, since_s, bitmap, sounding = struct.unpack(ALARM, b.messages(al, "indicated")[-1])
    assert code == A_OCCLUSION_SENSING_UNAVAILABLE and sounding == 0  # acknowledged: still active, silent
    b.radio.event(bluetooth.IRQ_GATTS_INDICATE_DONE, (CONN, al, 0))
    n = len(b.radio.indicated)
    b.settle()
    assert len(b.radio.indicated) == n


def test_battery_level_is_notified_on_change():
    b = Bench()
    b.connect()
    assert b.radio.values[b.svc.h_battery] == b"\x64" and b.radio.of(b.svc.h_battery) == [b"\x64"]
    b.rig.pump.safety.battery_mv = 2850  # the knee of the model cell: 88 % used
    b.rig.clock.t_ms += 1000
    b.run()
    assert b.radio.of(b.svc.h_battery) == [b"\x64", b"\x0c"]


# ---- commands ----


def test_every_command_through_frames():
    b = Bench()
    b.connect()
    pump = b.rig.pump
    doc = rx(5000, patient_bolus=PB)
    import json

    program = b"\x00" + json.dumps(doc).encode()
    assert len(program) > 200  # many fragments
    assert b.send(ROLE_CLINICIAN, OP_PROGRAM, program)[:2] == (OP_PROGRAM, 0)
    assert pump.therapy.to_doc()["therapy"] == {"mode": "constant", "dose_ug_per_day": 5000}
    assert b.send(ROLE_CLINICIAN, OP_PRIME, struct.pack("<H", 10))[1] == E_STATE  # therapy running
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND)[:3] == (OP_SUSPEND, 0, 3)
    assert pump.suspended and b.status()[2] == STATE_SUSPENDED
    assert b.send(ROLE_CLINICIAN, OP_PRIME, struct.pack("<H", 0))[1] == 0
    assert pump.plan.prime_nl_left == 150000
    assert b.send(ROLE_CLINICIAN, OP_RESUME)[1] == 0 and not pump.suspended
    data = b.send(ROLE_CLINICIAN, OP_REFILL, struct.pack("<II", 30000, 0))[3]  # the older layout: not measured
    assert struct.unpack("<IIIi", data)[0] == 0 and struct.unpack("<IIIi", data)[3] == 0
    assert pump.reservoir.remaining_nl == 30000000
    opcode, result, _, data = b.send(ROLE_CLINICIAN, OP_REFILL, struct.pack("<II", 30000, 20000))
    assert result == 0 and struct.unpack("<IIIi", data)[0] == 150000  # the catheter's old drug goes first
    bolus = b.send(ROLE_CLINICIAN, OP_CLINICIAN_BOLUS, struct.pack("<IHB", 50500, 30, 0))
    assert bolus[1] == 0 and [x.dose_ng for x in pump.plan.boluses] == [50500]  # whole ng, no float on the way
    assert b.send(ROLE_PATIENT, OP_PATIENT_BOLUS)[:3] == (OP_PATIENT_BOLUS, 0, 1)
    refused = b.send(ROLE_PATIENT, OP_PATIENT_BOLUS)
    assert refused[1] == E_LOCKOUT  # the program's bolus lockout; logged, then audited: role, counter, result, hash
    assert b.rig.events()[-3:] == [(ev.BOLUS_REFUSED, E_LOCKOUT, ev.BOLUS_PATIENT),
                                   (ev.COMMAND, refused[2], OP_PATIENT_BOLUS | ROLE_PATIENT << 8 | E_LOCKOUT << 16),
                                   (ev.CONTENT,) + content_hash(b"")]
    assert b.send(ROLE_PATIENT, OP_SILENCE, struct.pack("<I", 600000))[3] == struct.pack("<I", 120000)
    assert b.send(ROLE_CLINICIAN, OP_RESUME_ALARM)[3] == b"\x00\x00"
    wall = pump.wall_s(b.now) + 3600
    assert b.send(ROLE_CLINICIAN, OP_SET_CLOCK, struct.pack("<I", wall))[1] == 0 and pump.wall_s(b.now) == wall
    assert b.send(ROLE_CLINICIAN, OP_STOP)[1] == 0 and pump.therapy.mode == 0
    program = b"\x00" + json.dumps(rx(5000, conc=20000)).encode()  # the reservoir's drug since the refill
    assert b.send(ROLE_CLINICIAN, OP_PROGRAM, program, frame_size=244)[1] == 0  # a larger MTU: fewer frames
    assert pump.therapy.mode == 1
    assert b.send(ROLE_CLINICIAN, 77)[1:3] == (105, b.counters[ROLE_CLINICIAN] - 1)  # unknown: no counter used


def test_a_refused_command_changes_nothing_and_says_why():
    b = Bench()
    b.connect()
    b.rig.run(HOUR_MS)
    before = snapshot(b)
    import json

    bad = (
        (ROLE_CLINICIAN, OP_PROGRAM, b"\x00" + json.dumps(rx(25000)).encode(), E_HARD_LIMIT, "dose_ug_per_day"),
        (ROLE_CLINICIAN, OP_PROGRAM, b"\x00{not json", E_MALFORMED, "JSON"),
        (ROLE_CLINICIAN, OP_PROGRAM, b"\x00[1, 2]", E_MALFORMED, "object"),
        (ROLE_CLINICIAN, OP_PROGRAM, b"", E_MALFORMED, "flags"),
        (ROLE_CLINICIAN, OP_PROGRAM, b"\x00" + b"[" * 2000, E_MALFORMED, "JSON"),
        (ROLE_CLINICIAN, OP_REFILL, struct.pack("<I", 30000), E_MALFORMED, "12 bytes"),
        (ROLE_CLINICIAN, OP_REFILL, struct.pack("<II", 900000, 0), 101, "fill_ul"),
        (ROLE_CLINICIAN, OP_CLINICIAN_BOLUS, struct.pack("<IHB", 5000000, 30, 0), E_HARD_LIMIT, "bolus"),
        (ROLE_CLINICIAN, OP_SUSPEND, b"\x00", E_MALFORMED, "0 bytes"),
        (ROLE_PATIENT, OP_SUSPEND, b"", E_ROLE, ""),
        (ROLE_PATIENT, OP_PROGRAM, b"\x00{}", E_ROLE, ""),
        (ROLE_CLINICIAN, OP_PATIENT_BOLUS, b"", E_ROLE, ""),
        (ROLE_CLINICIAN, OP_ACKNOWLEDGE, b"\x63", 101, "code"),
    )
    for role, opcode, params, code, why in bad:
        result = b.send(role, opcode, params)
        assert result[:2] == (opcode, code), (opcode, result)
        assert why.encode() in result[3], (why, result)
        assert snapshot(b) == before
        if code == E_ROLE:
            b.counters[role] -= 1  # refused before its counter was used
            b.svc.auth.failures = 0
    # forged, replayed, reordered
    n = b.svc.auth.last_counter(ROLE_CLINICIAN)
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND, key=KP)[1] == E_AUTH
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND, counter=n)[1:3] == (E_REPLAY, n)  # the answer tells the last one
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND, counter=1)[1] == E_REPLAY
    assert snapshot(b) == before


def test_lockout_over_ble_is_logged():
    b = Bench()
    b.connect()
    for _ in range(5):
        assert b.send(ROLE_CLINICIAN, OP_SUSPEND, key=KP)[1] == E_AUTH
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND)[1] == E_AUTH_LOCKOUT and not b.rig.pump.suspended
    assert b.rig.events()[-1] == (ev.AUTH_LOCKOUT, 30, 1)
    b.rig.clock.t_ms += 30000
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND)[1] == 0 and b.rig.pump.suspended


def test_without_keys_commands_are_refused_and_telemetry_works():
    b = Bench(keys=None)
    b.connect(session=False)
    flags = struct.unpack(FEATURES, Reassemble(b.radio.values[b.svc.h_features]))[0]
    assert flags & FEATURE_KEYS == 0  # Features stays readable in clear
    try:
        b.open_session()
        raise AssertionError("a session without keys")
    except PumpError as e:
        assert e.code == E_NO_KEYS  # no key, no session: so no telemetry either (nothing leaves unsealed)
    assert b.send(ROLE_CLINICIAN, OP_SUSPEND)[1] == E_INSECURE and not b.rig.pump.suspended
    assert b.radio.of(b.svc.h_status) == []


def test_malformed_frames_are_each_answered():
    b = Bench()
    b.connect()
    before = snapshot(b)
    h = b.svc.h_command
    good = split(b.central.seal(STREAM_COMMAND, command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)), 3)
    bad_crc = bytearray(good[0])
    bad_crc[5] ^= 0x40
    cases = ((b"\x81", "short"), (b"\x02" + good[0][1:], "version"), (bytes(bad_crc), "crc"), (good[1], "order"))
    for frame, why in cases:
        n = len(b.messages(h, "indicated"))
        b.radio.write(h, frame)
        b.settle()
        answers = b.messages(h, "indicated")
        assert len(answers) == n + 1
        assert b.answer(answers[-1]) == (0, E_FRAME, 0, why.encode())
    b.write_frames(h, good)  # a complete command, and more frames before it ran: busy
    b.radio.write(h, good[0])
    b.settle()
    results = [b.answer(a)[1] for a in b.messages(h, "indicated")[-2:]]
    assert sorted(results) == [0, E_STATE]
    assert b.rig.pump.suspended and snapshot(b)[1:] != before[1:]


def test_indications_wait_for_confirmation_and_a_lost_one_drops_its_message():
    b = Bench()
    b.connect()
    sealed = b.central.seal(STREAM_COMMAND, command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND))
    b.write_frames(b.svc.h_command, split(sealed, 1))
    b.run()
    b.run()
    assert len(b.radio.of(b.svc.h_command, "indicated")) == 1
    b.radio.indicate_done(status=13)  # timed out
    b.settle()
    assert len(b.radio.of(b.svc.h_command, "indicated")) == 1
    b.counters[ROLE_CLINICIAN] = 1
    assert b.send(ROLE_CLINICIAN, OP_RESUME)[1] == 0  # the next command is answered normally


# ---- history ----


def test_history_over_racp():
    b = Bench()
    b.connect()
    log = b.rig.pump.log
    for i in range(10):
        log.append(1000 + i, ev.ALARM_RAISED, i, -i)
    first, last = log.first_seq, log.last_seq
    h = b.svc.h_history
    count = b.racp(bytes((racp.OP_COUNT, racp.OPR_ALL)))
    assert count == [struct.pack("<BBI", racp.OP_NUMBER, 0, log.count)]
    answers = b.racp(struct.pack("<BBBII", racp.OP_REPORT, racp.OPR_RANGE, 1, last - 4, last - 1))
    assert answers == [bytes((racp.OP_RESPONSE, 0, racp.OP_REPORT, racp.RC_SUCCESS))]
    records = [decode_record(m) for m in b.messages(h)]
    assert [r[0] for r in records] == [last - 4, last - 3, last - 2, last - 1]
    assert records[-1][1:] == (1008, ev.ALARM_RAISED, 8, -8)
    assert all(len(f) <= 20 for f in b.radio.of(h))
    n = len(records)
    b.racp(bytes((racp.OP_REPORT, racp.OPR_LAST)))
    assert [decode_record(m)[0] for m in b.messages(h)[n:]] == [last]
    b.racp(bytes((racp.OP_REPORT, racp.OPR_FIRST)))
    assert decode_record(b.messages(h)[-1])[0] == first
    b.racp(struct.pack("<BBBI", racp.OP_REPORT, racp.OPR_GE, 1, last - 1))
    assert [decode_record(m)[0] for m in b.messages(h)[-2:]] == [last - 1, last]
    assert b.racp(struct.pack("<BBBI", racp.OP_COUNT, racp.OPR_LE, 1, first + 2)) == [
        struct.pack("<BBI", racp.OP_NUMBER, 0, 3)]
    sent = len(b.radio.of(h))
    assert b.racp(struct.pack("<BBBI", racp.OP_REPORT, racp.OPR_GE, 1, last + 1)) == [
        bytes((racp.OP_RESPONSE, 0, racp.OP_REPORT, racp.RC_NO_RECORDS))]
    assert len(b.radio.of(h)) == sent
    refused = (
        (bytes((racp.OP_DELETE, racp.OPR_ALL)), racp.OP_DELETE, racp.RC_OP_NOT_SUPPORTED),
        (bytes((racp.OP_REPORT,)), racp.OP_REPORT, racp.RC_INVALID_OPERATOR),
        (bytes((racp.OP_REPORT, 0)), racp.OP_REPORT, racp.RC_INVALID_OPERATOR),
        (bytes((racp.OP_REPORT, 9)), racp.OP_REPORT, racp.RC_OPERATOR_NOT_SUPPORTED),
        (bytes((racp.OP_REPORT, racp.OPR_ALL, 1)), racp.OP_REPORT, racp.RC_INVALID_OPERAND),
        (struct.pack("<BBBI", racp.OP_REPORT, racp.OPR_GE, 2, 1), racp.OP_REPORT, racp.RC_OPERAND_NOT_SUPPORTED),
        (struct.pack("<BBBH", racp.OP_REPORT, racp.OPR_GE, 1, 1), racp.OP_REPORT, racp.RC_INVALID_OPERAND),
        (struct.pack("<BBBII", racp.OP_REPORT, racp.OPR_RANGE, 1, 5, 4), racp.OP_REPORT, racp.RC_INVALID_OPERAND),
        (bytes((racp.OP_ABORT, 1)), racp.OP_ABORT, racp.RC_INVALID_OPERATOR),
        (b"", 0, racp.RC_OP_NOT_SUPPORTED),
    )
    for payload, op, code in refused:
        assert b.racp(payload) == [bytes((racp.OP_RESPONSE, 0, op, code))], payload
    assert len(b.radio.of(h)) == sent
    b.radio.write(b.svc.h_racp, b"\x01\x00\x00\x00\x00")
    b.settle()
    assert b.messages(b.svc.h_racp, "indicated")[-1] == bytes((racp.OP_RESPONSE, 0, 0, racp.RC_BAD_FRAME))


def test_history_transfer_is_paced_and_can_be_aborted():
    b = Bench()
    b.connect()
    log = b.rig.pump.log
    for i in range(40):
        log.append(2000 + i, ev.ALARM_CLEARED, i)
    h = b.svc.h_history
    b.write_frames(b.svc.h_racp, split(b.central.seal(STREAM_RACP, bytes((racp.OP_REPORT, racp.OPR_ALL))), 1))
    wait = b.run()
    assert wait == b.svc.interval_ms and len(b.radio.of(h)) == 4  # four frames per connection interval
    b.run()
    assert len(b.radio.of(h)) == 8
    b.write_frames(b.svc.h_racp, split(b.central.seal(STREAM_RACP, bytes((racp.OP_REPORT, racp.OPR_ALL))), 2))
    b.settle()
    assert b.messages(b.svc.h_racp, "indicated") == [bytes((racp.OP_RESPONSE, 0, 1, racp.RC_NOT_COMPLETED))]
    b.write_frames(b.svc.h_racp, split(b.central.seal(STREAM_RACP, bytes((racp.OP_ABORT, racp.OPR_NULL))), 2))
    b.settle()
    sent = len(b.radio.of(h))
    assert b.messages(b.svc.h_racp, "indicated")[-1] == bytes((racp.OP_RESPONSE, 0, racp.OP_ABORT, racp.RC_SUCCESS))
    assert b.svc.history.records is None and sent < 2 * log.count
    b.rig.clock.t_ms += 1000
    b.settle()
    assert len(b.radio.of(h)) == sent


# ---- pairing and bonds ----


def test_bonds_are_kept_in_the_store_across_a_reset():
    b = Bench()
    r = b.radio
    key = memoryview(b"\x00\x01\x02\x03\x04\x05\x06")
    assert r.event(bluetooth.IRQ_SET_SECRET, (2, key, memoryview(b"peer-keys-1"))) is True
    assert r.event(bluetooth.IRQ_SET_SECRET, (10, memoryview(b"irk"), memoryview(b"0123456789abcdef"))) is True
    assert r.event(bluetooth.IRQ_GET_SECRET, (2, 0, key)) == b"peer-keys-1"
    b.run()  # saved by the task, not in the IRQ
    b.boot_service()
    r = b.radio
    assert r.event(bluetooth.IRQ_GET_SECRET, (2, 0, memoryview(bytes(key)))) == b"peer-keys-1"
    assert r.event(bluetooth.IRQ_GET_SECRET, (2, 0, None)) == b"peer-keys-1"
    assert r.event(bluetooth.IRQ_GET_SECRET, (2, 1, None)) is None
    assert r.event(bluetooth.IRQ_GET_SECRET, (10, 0, memoryview(b"irk"))) == b"0123456789abcdef"
    assert r.event(bluetooth.IRQ_SET_SECRET, (2, key, None)) is True  # forget the bond
    b.run()
    b.boot_service()
    assert b.radio.event(bluetooth.IRQ_GET_SECRET, (2, 0, key)) is None


def test_bond_store_drops_the_oldest_when_full():
    b = Bench()
    r = b.radio
    for i in range(40):
        r.event(bluetooth.IRQ_SET_SECRET, (2, memoryview(bytes((i,)) * 7), memoryview(bytes(100))))
    b.run()
    b.boot_service()
    kept = [i for i in range(40) if b.radio.event(bluetooth.IRQ_GET_SECRET, (2, 0, bytes((i,)) * 7))]
    assert kept == list(range(40 - len(kept), 40)) and 10 < len(kept) < 40


def test_just_works_pairings_neither_evict_the_clinicians_bond_nor_write_the_flash():
    """Before: every pairing's keys were stored at once, so eight Just Works pairings from phones in range (600 B of
    keys each) evicted the clinician's passkey bond from the 2 KB store and each rewrote it."""
    b = Bench()
    r = b.radio
    clinician = bytes((0, 1, 2, 3, 4, 5, 6))
    r.connect()
    r.event(bluetooth.IRQ_SET_SECRET, (2, memoryview(clinician), memoryview(bytes(range(200)))))
    r.encrypt(authenticated=True)  # the passkey pairing proves MITM-protected: its keys are kept
    b.run()
    r.disconnect()
    b.run()
    bonds = b.rig.blobs("bonds")
    assert bonds and b.svc.secrets.get(2, 0, clinician) == bytes(range(200))
    for i in range(8):
        phone = bytes((9, i, 9, i, 9, i, 9))
        r.connect()
        r.event(bluetooth.IRQ_SET_SECRET, (2, memoryview(phone), memoryview(bytes(600))))
        assert r.event(bluetooth.IRQ_GET_SECRET, (2, 0, phone)) == bytes(600)  # usable while its link lasts
        r.encrypt(authenticated=False)  # Just Works
        b.run()
        r.disconnect()
        b.run()
        assert b.svc.secrets.get(2, 0, phone) is None
    assert b.rig.blobs("bonds") == bonds  # not one write
    b.boot_service()
    assert b.radio.event(bluetooth.IRQ_GET_SECRET, (2, 0, clinician)) == bytes(range(200))


def test_no_session_by_the_deadline_disconnects_but_a_passkey_being_typed_is_given_a_minute():
    b = Bench()
    r = b.radio
    r.connect()
    b.rig.clock.t_ms += 4999
    b.run()
    assert r.disconnects == []
    b.rig.clock.t_ms += 1
    b.run()
    assert r.disconnects == [CONN] and b.svc.sp.failures == 1  # 5 s without a session
    r.disconnect()
    r.connect()
    b.rig.clock.t_ms += 4000
    r.event(bluetooth.IRQ_PASSKEY_ACTION, (CONN, 3, 0))  # the phone pairs first: its person types the passkey
    b.rig.clock.t_ms += 59999
    b.run()
    assert r.disconnects == [CONN]
    b.rig.clock.t_ms += 1
    b.run()
    assert r.disconnects == [CONN, CONN] and b.svc.sp.failures == 2


def test_pairing_shows_a_passkey_and_refuses_what_the_pump_cannot_confirm():
    b = Bench()
    b.radio.connect()
    b.radio.event(bluetooth.IRQ_PASSKEY_ACTION, (CONN, 3, 0))
    passkey = b.radio.passkeys[0][2]
    assert b.radio.passkeys == [(CONN, 3, passkey)] and 0 < passkey < 1000000
    assert b.printed[-1] == "BLE pairing passkey %06d" % passkey
    b.radio.event(bluetooth.IRQ_PASSKEY_ACTION, (CONN, 4, 123456))  # numeric comparison: no button to press
    assert b.radio.passkeys[-1] == (CONN, 4, 0)


def test_an_unreadable_log_ends_the_history_request_not_the_pump():
    b = Bench()
    b.connect()
    for i in range(20):
        b.rig.pump.log.append(3000 + i, ev.ALARM_CLEARED, i)
    storage = b.rig.storage
    read = storage.read

    def failing_read(name):
        if name.startswith("log."):
            raise OSError(5)
        return read(name)

    storage.read = failing_read
    done = bytes((racp.OP_RESPONSE, 0, racp.OP_COUNT, racp.RC_NOT_COMPLETED))
    assert b.racp(bytes((racp.OP_COUNT, racp.OPR_ALL))) == [done]
    assert b.racp(bytes((racp.OP_REPORT, racp.OPR_ALL))) == [
        bytes((racp.OP_RESPONSE, 0, racp.OP_REPORT, racp.RC_NOT_COMPLETED))]
    storage.read = read
    assert b.racp(bytes((racp.OP_REPORT, racp.OPR_LAST)))[-1][-1] == racp.RC_SUCCESS
