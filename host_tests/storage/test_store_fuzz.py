"""Fuzz of what the stores hold at boot: random bytes, and records with a valid CRC around random payloads or fields
out of their range, in the slots of each store (state, program, command counters, event log). The boot never raises,
the pump keeps running for hours after it, the motor moves only for a program it was given and trusts, and what no
power cut explains raises an alarm. `PUMP_FUZZ_STORES=n` sets the number of examples per store (default 100)."""

import json
import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pump import alarms as al
from pump.checkpoint import VERSION, pack, unpack
from pump.cmdauth import MAX_LEVEL, ROLE_CLINICIAN, CommandAuth, parse_keys
from pump.commands import OP_SUSPEND, roles_for
from pump.eventlog import MAX_SEQ, RECORD_SIZE, encode
from pump.hmac import hmac_sha256
from pump.store import Store
from pump.prescription import parse_prescription
from support.druglib import LIB
from support.plan import HOUR_MS
from support.rig import PB, Rig, rx


_N = int(os.environ.get("PUMP_FUZZ_STORES", "100"))
_SETTINGS = settings(max_examples=_N, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
KEYS = {"clinician": "11" * 32, "patient": "22" * 32}
_ALARMS = {al.A_STORE_CORRUPT, al.A_PROGRAM_FALLBACK, al.A_STATE_LOST, al.A_COMMAND_COUNTERS_LOST}
_MAX = 0x3FFFFFFF


def _base():
    """Storage of a pump programmed twice, with BLE commands accepted, after a few hours: every store written."""
    rig = Rig(fill_ul=20000, prescription=rx(12000, patient_bolus=PB))
    rig.run(HOUR_MS)
    rig.pump.program(rx(4000), now=rig.now)
    auth = CommandAuth(rig.storage, parse_keys(KEYS), lambda *a: None, rig.now)
    for counter in (1, 2):
        body = bytes((OP_SUSPEND, ROLE_CLINICIAN)) + counter.to_bytes(4, "little")
        msg = bytearray(body + hmac_sha256(bytes.fromhex(KEYS["clinician"]), body))
        assert auth.verify(msg, len(msg), rig.now, roles_for) == 0
    rig.run(2 * HOUR_MS)
    return rig.storage, rig.rtc.now_ms() // 1000


BASE, WALL_S = _base()
TRUSTED = [parse_prescription(doc, LIB, 200) for doc in (rx(12000, patient_bolus=PB), rx(4000))]


def _boot(storage):
    """A reset onto `storage`: the pump and its command counters (as the BLE service builds them) at boot; then four
    hours of running. Returns (rig, steps moved after the boot, command auth)."""
    rig = Rig(storage=storage, wall_s=WALL_S + 60)
    auth = CommandAuth(storage, parse_keys(KEYS), lambda *a: None, rig.now, rig.pump.safety.alarms)
    rig.run(4 * HOUR_MS)
    return rig, len(rig.step_times), auth


def _check(rig, moved, alarm_expected):
    pump = rig.pump
    active = {c for c in al.NAME if pump.safety.alarms.is_active(c)}
    if moved:  # the motor moved: only for a program it was given, not held
        assert pump.therapy in TRUSTED and not pump.safety.holding
    if alarm_expected:
        assert active & _ALARMS, active


def _slots(store, which):
    return ["%s.%s" % (store, s) for s in ("a", "b")] if which == "both" else ["%s.%s" % (store, which)]


def _record(version, payload, seq=99):
    """A store record with a valid CRC (pump.store layout) around `payload`."""
    from binascii import crc32

    head = struct.pack("<HBBIH", 0x5453, version, 0, seq, len(payload)) + payload
    return head + struct.pack("<I", crc32(head))


# ---- random bytes in any store: never a failed boot; an alarm unless it could be a torn write ----


@_SETTINGS
@given(store=st.sampled_from(["state", "prog", "cmdauth"]), which=st.sampled_from(["a", "b", "both"]),
       junk=st.binary(min_size=2, max_size=120).filter(lambda b: b[0] != 0x53))
def test_random_bytes_in_a_stores_slots(store, which, junk):
    storage = BASE.clone()
    for name in _slots(store, which):
        storage.blobs[name] = bytearray(junk)  # not starting with the magic: no torn record, bit rot
    rig, moved, _auth = _boot(storage)
    _check(rig, moved, True)


@_SETTINGS
@given(store=st.sampled_from(["state", "prog", "cmdauth"]), which=st.sampled_from(["a", "b", "both"]),
       cut=st.integers(0, 13))
def test_short_blobs_like_a_cut_write_never_fail_the_boot(store, which, cut):
    storage = BASE.clone()
    for name in _slots(store, which):
        storage.blobs[name] = storage.blobs[name][:cut]
    rig, moved, _auth = _boot(storage)
    _check(rig, moved, which == "both")  # one torn slot is what a power cut leaves; two are not


# ---- records with a valid CRC: random payloads of every version, and fields out of their range ----


@_SETTINGS
@given(store=st.sampled_from(["state", "prog", "cmdauth"]), which=st.sampled_from(["a", "b", "both"]),
       version=st.sampled_from([1, 2, 3, 4, 255]), payload=st.binary(max_size=120))
def test_valid_crc_around_random_payloads(store, which, version, payload):
    storage = BASE.clone()
    for name in _slots(store, which):
        storage.blobs[name] = bytearray(_record(version, payload))
    rig, moved, _auth = _boot(storage)
    _check(rig, moved, True)


_OUT_OF_RANGE = {
    "wall_s": [0xFFFFFFFE, 3155760000], "flags": [16, 255], "fill_nl": [100000001, -1, -0x80000000],
    "remaining_nl": [0x7FFFFFFF], "day": [36525, -1, 0x7FFFFFFF], "delivered_today_nl": [-1, _MAX + 1, 0x7FFFFFFF],
    "total_ul": [_MAX + 1, 0xFFFFFFFF], "total_nl_rem": [1000, 0xFFFF], "conc_ug_per_ml": [_MAX + 1, 0xFFFFFFFF],
    "catheter": [[(5000001, 1)], [(-1, 1)], [(0x7FFFFFFF, 1)], [(1, 0)], [(1, 1), (0, 1)]],
    "latched": [1 << 19, 0xFFFFFFFF, 1 << 31],
    "mono_s": [_MAX + 1, 0xFFFFFFFF], "mono_ms": [1000, 0xFFFF], "wall_rem_ms": [1000, 0xFFFF],
}


def _counters(rng_values):
    c = unpack(Store(BASE, "state", VERSION).load())
    for key, v in rng_values.items():
        setattr(c, key, v)
    return c


@_SETTINGS
@given(which=st.sampled_from(["a", "b", "both"]), field=st.sampled_from(sorted(_OUT_OF_RANGE)), data=st.data())
def test_checkpoints_with_a_field_out_of_its_range(which, field, data):
    value = data.draw(st.sampled_from(_OUT_OF_RANGE[field]))
    c = _counters({field: value})
    storage = BASE.clone()
    for name in _slots("state", which):
        storage.blobs[name] = bytearray(_record(VERSION, pack(c), seq=1000))
    rig, moved, _auth = _boot(storage)
    _check(rig, moved, True)


@_SETTINGS
@given(which=st.sampled_from(["a", "b", "both"]), grants=st.lists(st.integers(0, 0xFFFFFFFF), max_size=60),
       version=st.sampled_from([1, 2, 3]), fill=st.integers(-0x80000000, 0x7FFFFFFF),
       occ=st.integers(0, 0xFFFF), jump=st.integers(0, 0xFFFF), prog_seq=st.integers(0, 0xFFFFFFFF))
def test_checkpoints_with_random_counts_and_grants(which, grants, version, fill, occ, jump, prog_seq):
    c = _counters({"fill_nl": fill, "occ_base_kpa_x10": occ, "occ_jump_x256": jump, "prog_seq": prog_seq,
                   "latched": 1 << (al.A_OCCLUSION - 1)})
    c.grants_mono_s = grants
    raw = pack(c) if version == VERSION else _pack_v1(c) if version == 1 else _pack_v2(c)
    storage = BASE.clone()
    for name in _slots("state", which):
        storage.blobs[name] = bytearray(_record(version, raw, seq=1000))
    rig, moved, _auth = _boot(storage)
    _check(rig, moved, False)  # some of these are valid records: the properties, not an alarm, are what must hold


def _tip(c):
    """The catheter's first old drug as versions 1 and 2 kept it (the bridge), (0, 0) for none."""
    return c.catheter[0] if c.catheter else (0, 0)


def _pack_v2(c):
    """The checkpoint layout before the monotonic clock: grants in wall seconds, nothing after them."""
    grants = c.grants_mono_s[-48:]
    return struct.pack("<IBiiiiIHIiIIHIIB", c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl,
                       c.total_ul, c.total_nl_rem, c.conc_ug_per_ml, *_tip(c), c.latched,
                       c.occ_base_kpa_x10, c.occ_jump_x256, c.prog_seq or 0, len(grants)) + b"".join(
                           struct.pack("<I", t) for t in grants)


def _pack_v1(c):
    """The first checkpoint layout: a u16 alarm bitmap, no program sequence number, grants in wall seconds."""
    grants = c.grants_mono_s[-48:]
    return struct.pack("<IBiiiiIHIiIHHIB", c.wall_s, c.flags, c.fill_nl, c.remaining_nl, c.day, c.delivered_today_nl,
                       c.total_ul, c.total_nl_rem, c.conc_ug_per_ml, *_tip(c), c.latched,
                       c.occ_base_kpa_x10, c.occ_jump_x256, len(grants)) + b"".join(
                           struct.pack("<I", t) for t in grants)


_PROGRAMS = [
    {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "constant",
                                                                                 "dose_ug_per_day": 1e300}},
    {"drug": {"name": "morphine", "concentration_ug_per_ml": -5}, "therapy": {"mode": "stopped"}},
    {"drug": {"name": "", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "stopped"}},
    {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "flex", "steps": []}},
    {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000}, "therapy": {"mode": "constant",
                                                                                 "dose_ug_per_day": 0.001}},
    {"drug": {"name": "morphine", "concentration_ug_per_ml": 1}, "therapy": {"mode": "constant",
                                                                           "dose_ug_per_day": 4000}},
    {"drug": {"name": "morphine", "concentration_ug_per_ml": 2**40}, "therapy": {"mode": "constant",
                                                                                 "dose_ug_per_day": 4000}},
    {"therapy": {"mode": "constant", "dose_ug_per_day": 4000}},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    "text", None, 4000,
]


@_SETTINGS
@given(which=st.sampled_from(["a", "b", "both"]), doc=st.sampled_from(_PROGRAMS))
def test_program_records_that_are_no_program_this_pump_can_run(which, doc):
    storage = BASE.clone()
    for name in _slots("prog", which):
        storage.blobs[name] = bytearray(_record(1, json.dumps(doc).encode(), seq=1000))
    rig, moved, _auth = _boot(storage)
    _check(rig, moved, True)


@_SETTINGS
@given(which=st.sampled_from(["a", "b", "both"]), level=st.integers(MAX_LEVEL + 1, 255),
       flags=st.integers(0, 255), c1=st.integers(0, 0xFFFFFFFF), version=st.sampled_from([1, 2]))
def test_command_counter_records_out_of_range(which, level, flags, c1, version):
    payload = struct.pack("<IIB", c1, 0, level) if version == 1 else struct.pack("<IIBB8s", c1, 0, level, flags,
                                                                                   bytes(8))
    storage = BASE.clone()
    for name in _slots("cmdauth", which):
        storage.blobs[name] = bytearray(_record(version, payload, seq=1000))
    rig, moved, auth = _boot(storage)
    assert auth.lost
    _check(rig, moved, True)


@_SETTINGS
@given(seq=st.sampled_from([0, MAX_SEQ, MAX_SEQ + 1, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF),
       t_s=st.integers(0, 0xFFFFFFFF), code=st.integers(0, 0xFFFF), fmt=st.sampled_from([1, 0, 2, 0xFFFF]),
       segment=st.integers(0, 3), where=st.sampled_from(["append", "replace"]))
def test_event_log_records_with_any_fields(seq, t_s, code, fmt, segment, where):
    buf = bytearray(RECORD_SIZE)
    encode(buf, memoryview(buf)[:20], seq, t_s, code, 0, 0)
    struct.pack_into("<H", buf, 10, fmt)
    from binascii import crc32

    struct.pack_into("<I", buf, 20, crc32(bytes(buf[:20])))  # a valid CRC around whatever fields
    storage = BASE.clone()
    name = "log.%d" % segment
    if where == "append" or name not in storage.blobs:
        storage.blobs.setdefault(name, bytearray()).extend(buf)
    else:
        storage.blobs[name][0:RECORD_SIZE] = buf
    rig, moved, _auth = _boot(storage)
    readable = fmt == 1 and 0 < seq <= MAX_SEQ
    _check(rig, moved, not readable)
    assert rig.pump.log.last_seq <= MAX_SEQ and rig.pump.log.count > 0
