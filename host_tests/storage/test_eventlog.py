"""Event log: append/read, ring wrap, reopen, every-byte power cuts, bit rot, seq ranges, layout, no allocation."""

import binascii
import struct

from support.flash import FakeStorage, PowerCut
from pump import events
from pump.compat import heap_lock, heap_unlock
from pump.errors import E_RANGE, E_STORAGE, PumpError
from pump.eventlog import RECORD_SIZE, EventLog, decode
from support import SkipTest, raises, small_int_limit

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_T0 = 800000000  # 2025-05-08, seconds since 2000


def _rec(seq):
    """The record the helpers below append as number `seq` (deterministic, negative args included)."""
    return (seq, _T0 + 60 * seq, 1 + seq % 20, -seq * 1000, seq * 7)


def _fill(log, first, last):
    for s in range(first, last + 1):
        r = _rec(s)
        assert log.append(r[1], r[2], r[3], r[4]) == s


def _small(st, k=3, r=4):
    return EventLog(st, segments=k, per_segment=r).open()


def test_append_and_read():
    st = FakeStorage()
    log = _small(st)
    assert (log.first_seq, log.last_seq, log.count) == (0, 0, 0)
    assert list(log.read()) == []
    _fill(log, 1, 5)
    assert list(log.read()) == [_rec(s) for s in range(1, 6)]
    assert (log.first_seq, log.last_seq, log.count) == (1, 5, 5)
    assert st.appends == 4  # one storage call per record; the first record of a segment is a write
    assert st.writes == 1


def test_defaults_and_names():
    st = FakeStorage()
    log = EventLog(st)
    log.append(_T0, events.BOOT, 3)
    assert sorted(st.blobs) == ["log.0"]
    assert len(st.blobs["log.0"]) == RECORD_SIZE
    _fill(log, 2, 4 * 64 + 10)
    assert sorted(st.blobs) == ["log.0", "log.1", "log.2", "log.3"]
    assert log.count == 3 * 64 + 10


def test_extreme_arguments_round_trip_and_ranges_checked():
    st = FakeStorage()
    log = _small(st)
    log.append(0xFFFFFFFF, 0xFFFF, -0x80000000, 0x7FFFFFFF)
    assert list(EventLog(st, segments=3, per_segment=4).read()) == [(1, 0xFFFFFFFF, 0xFFFF, -0x80000000, 0x7FFFFFFF)]
    for bad, field in (((-1, 1), "t_s"), ((0x100000000, 1), "t_s"), ((0, 0), "code"), ((0, 0x10000), "code")):
        with raises(PumpError) as e:
            log.append(bad[0], bad[1])
        assert (e.value.code, e.value.detail) == (E_RANGE, field)
    with raises(PumpError) as e:
        log.append(0, 1, 0x80000000)
    assert e.value.detail == "a"
    with raises(PumpError) as e:
        log.append(0, 1, 0, -0x80000001)
    assert e.value.detail == "b"
    assert log.count == 1 and log.last_seq == 1


def test_record_layout_is_the_documented_one():
    st = FakeStorage()
    log = _small(st)
    log.append(_T0, events.BOLUS_GRANTED, 250000, events.BOLUS_PATIENT)
    blob = bytes(st.blobs["log.0"])
    assert len(blob) == 24
    assert struct.unpack("<IIHHiiI", blob)[:6] == (1, _T0, events.BOLUS_GRANTED, 1, 250000, events.BOLUS_PATIENT)
    assert struct.unpack_from("<I", blob, 20)[0] == binascii.crc32(blob[:20])
    assert decode(blob) == (1, _T0, events.BOLUS_GRANTED, 250000, events.BOLUS_PATIENT)
    assert decode(blob[:23]) is None
    assert decode(bytes(24)) is None


def test_wrap_keeps_newest_and_drops_oldest_whole_segment():
    k, r = 3, 4
    st = FakeStorage()
    log = _small(st, k, r)
    for n in range(1, 31):
        _fill(log, n, n)
        expect = n if n <= k * r else (k - 1) * r + (n - 1) % r + 1
        assert log.count == expect, n
        assert (k - 1) * r <= log.count <= k * r or n < (k - 1) * r
        assert log.first_seq == n - expect + 1
        assert log.last_seq == n
        assert list(log.read()) == [_rec(s) for s in range(n - expect + 1, n + 1)]
        assert (log.first_seq - 1) % r == 0  # whole segments dropped
    assert sorted(st.blobs) == ["log.0", "log.1", "log.2"]


def test_reopen_gives_same_records_and_continues_seq():
    for total in (0, 1, 4, 7, 12, 13, 29):
        st = FakeStorage()
        log = _small(st)
        _fill(log, 1, total)
        before = list(log.read())
        again = _small(st)
        assert list(again.read()) == before
        assert (again.first_seq, again.last_seq, again.count) == (log.first_seq, log.last_seq, log.count)
        _fill(again, total + 1, total + 9)
        third = _small(st)
        assert third.last_seq == total + 9
        assert list(third.read()) == [_rec(s) for s in range(third.first_seq, total + 10)]
        assert third.count == third.last_seq - third.first_seq + 1


def _check_cut_append(base, committed, seq, lost=0):
    """Cut the append of record `seq` at every byte; after the reboot: committed intact, the torn one absent or
    complete, and the log still takes records that read back after another reboot."""
    outcomes = set()
    for n in range(2 * RECORD_SIZE + 1):
        flash = base.clone()
        log = _small(flash)
        assert list(log.read()) == committed
        flash.cut_after(n)
        r = _rec(seq)
        try:
            log.append(r[1], r[2], r[3], r[4])
        except PowerCut:
            pass
        else:
            continue  # the append needed fewer than n bytes (n past its end): nothing cut
        flash.power_on()
        log = _small(flash)
        after = list(log.read())
        got = after
        if got and got[-1] == r:
            got = got[:-1]
            nxt = seq + 1
        else:
            nxt = seq
        outcomes.add(nxt - seq)
        assert got == committed[lost:], n  # only the recycled segment's records can go
        assert log.last_seq == nxt - 1
        _fill(log, nxt, nxt + 4)  # crosses a segment boundary (R = 4); the ring keeps at least 7 records
        recs = list(_small(flash).read())
        expect = after + [_rec(s) for s in range(nxt, nxt + 5)]
        assert recs[-5:] == expect[-5:], n
        assert recs == expect[-len(recs) :], n
    assert outcomes == {0, 1}  # cuts left the record both absent and (at the last byte) complete


def test_power_cut_at_every_byte_of_an_append_in_a_segment():
    st = FakeStorage()
    _fill(_small(st), 1, 5)  # current segment log.1 holds 1 record
    _check_cut_append(st, [_rec(s) for s in range(1, 6)], 6)


def test_power_cut_at_every_byte_of_an_append_that_starts_a_segment():
    st = FakeStorage()
    _fill(_small(st), 1, 8)  # log.1 full: next append goes to the empty log.2
    _check_cut_append(st, [_rec(s) for s in range(1, 9)], 9)


def test_power_cut_at_every_byte_of_an_append_that_recycles_a_segment():
    st = FakeStorage()
    _fill(_small(st), 1, 12)  # all full: next append overwrites log.0 (records 1-4)
    committed = [_rec(s) for s in range(1, 13)]
    _check_cut_append(st, committed, 13, lost=4)
    # and the torn recycled segment only ever loses the records it held
    flash = st.clone()
    log = _small(flash)
    flash.cut_after(10)
    with raises(PowerCut):
        log.append(1, 1)
    flash.power_on()
    assert list(_small(flash).read()) == committed[4:]


def test_power_cut_while_padding_a_torn_tail():
    st = FakeStorage()
    log = _small(st)
    _fill(log, 1, 5)
    st.cut_after(10)
    with raises(PowerCut):
        log.append(1, 1)
    st.power_on()
    assert len(st.blobs["log.1"]) == RECORD_SIZE + 10
    # the next append first pads 14 zero bytes, then writes its record: cut that at every byte too
    _check_cut_append(st, [_rec(s) for s in range(1, 6)], 6)


def test_torn_tail_costs_one_slot_and_later_records_stay_aligned():
    st = FakeStorage()
    log = _small(st)
    _fill(log, 1, 2)
    st.cut_after(5)
    with raises(PowerCut):
        log.append(1, 1)
    st.power_on()
    log = _small(st)
    assert log.last_seq == 2
    _fill(log, 3, 3)
    assert len(st.blobs["log.0"]) == 4 * RECORD_SIZE  # 2 records, the padded torn slot, record 3: full
    _fill(log, 4, 5)
    assert len(st.blobs["log.1"]) == 2 * RECORD_SIZE
    assert st.last_written == "log.1"
    assert list(_small(st).read()) == [_rec(s) for s in range(1, 6)]


def test_flipped_byte_drops_only_that_record():
    st = FakeStorage()
    _fill(_small(st), 1, 10)
    allrecs = [_rec(s) for s in range(1, 11)]
    for off in range(RECORD_SIZE):
        flash = st.clone()
        flash.corrupt("log.1", RECORD_SIZE + off)  # record 6
        log = _small(flash)
        assert list(log.read()) == allrecs[:5] + allrecs[6:], off
        assert log.count == 9
        assert log.last_seq == 10


def test_flipped_newest_record_number_is_reused_and_log_stays_ordered():
    st = FakeStorage()
    _fill(_small(st), 1, 6)
    st.corrupt("log.1", RECORD_SIZE + 3)  # record 6, the newest
    log = _small(st)
    assert log.last_seq == 5
    _fill(log, 6, 9)
    assert list(_small(st).read()) == [_rec(s) for s in range(1, 10)]


def test_garbage_segments_are_ignored():
    st = FakeStorage()
    st.blobs["log.0"] = bytearray(b"\xff" * 50)
    st.blobs["log.2"] = bytearray(range(96))
    log = _small(st)
    assert (log.count, log.first_seq, log.last_seq) == (0, 0, 0)
    _fill(log, 1, 14)
    again = _small(st)
    assert list(again.read()) == [_rec(s) for s in range(again.first_seq, 15)]
    assert again.count == log.count >= 8


def test_read_by_seq_range_across_segments():
    st = FakeStorage()
    log = _small(st)
    _fill(log, 1, 10)
    seqs = [r[0] for r in log.read(3, 9)]
    assert seqs == [3, 4, 5, 6, 7, 8, 9]
    assert [r[0] for r in log.read(5, 5)] == [5]
    assert [r[0] for r in log.read(8)] == [8, 9, 10]
    assert list(log.read(11, 20)) == []
    assert list(log.read(7, 6)) == []
    _fill(log, 11, 17)  # records 1-8 gone: log.0 holds 13-16, log.1 17, log.2 9-12
    assert [r[0] for r in log.read(1, 10)] == [9, 10]
    assert [r[0] for r in log.read(12, 100)] == [12, 13, 14, 15, 16, 17]


def test_latest():
    st = FakeStorage()
    log = _small(st)
    assert log.latest(3) == []
    _fill(log, 1, 17)
    assert log.latest(3) == [_rec(s) for s in (15, 16, 17)]
    assert log.latest(6) == [_rec(s) for s in range(12, 18)]
    assert log.latest(100) == [_rec(s) for s in range(log.first_seq, 18)]
    assert log.latest(0) == []


def test_segments_and_size_checked():
    with raises(PumpError) as e:
        EventLog(FakeStorage(), segments=1)
    assert e.value.code == E_RANGE


class _FlakyStorage(FakeStorage):
    fail = False

    def append(self, name, data):
        if self.fail:
            FakeStorage.append(self, name, data[:7])  # part reached flash, then the device reported an error
            raise OSError(5)
        FakeStorage.append(self, name, data)


def test_storage_error_is_a_pump_error_and_the_log_resyncs():
    st = _FlakyStorage()
    log = _small(st)
    _fill(log, 1, 2)
    st.fail = True
    with raises(PumpError) as e:
        log.append(1, 1)
    assert (e.value.code, e.value.detail) == (E_STORAGE, "log.0")
    st.fail = False
    _fill(log, 3, 6)  # rescans, pads the partial record, carries on
    assert list(_small(st).read()) == [_rec(s) for s in range(1, 7)]


class _CountingStorage:
    """Storage role that keeps only byte counts, so any allocation seen is the log's own."""

    def __init__(self):
        self.n = 0

    def read(self, name):
        return None

    def write(self, name, data):
        self.n += len(data)

    def append(self, name, data):
        self.n += len(data)

    def remove(self, name):
        pass


def _small_crc_args(seq, t_s, code, b):
    """An `a` for record `seq` whose CRC is a small int even on a 32-bit board (below 2**30): binascii.crc32 returns
    a fresh int, boxed on the boards when >= 2**30 (3 records in 4), which is the log's one documented allocation."""
    a = -seq
    while binascii.crc32(struct.pack("<IIHHii", seq, t_s, code, 1, a, b)) >= 1 << 30:
        a -= 1
    return a


def test_append_allocates_nothing():
    st = _CountingStorage()
    log = EventLog(st, segments=2, per_segment=3).open()
    log.append(_T0, events.BOOT)  # first call may warm up caches
    args = [_small_crc_args(seq, _T0 + seq, events.ALARM_RAISED, seq) for seq in range(2, 12)]
    heap_lock()
    try:
        for i in range(10):  # crosses several segment rotations
            log.append(_T0 + i + 2, events.ALARM_RAISED, args[i], i + 2)
    finally:
        heap_unlock()
    assert st.n == 11 * RECORD_SIZE
    assert log.last_seq == 11 and log.count == 5 and log.first_seq == 7


def test_a_crc_past_the_small_int_range_is_the_one_allocation_on_a_32_bit_port():
    limit = small_int_limit()
    if limit != 1 << 30:
        raise SkipTest("needs a 32-bit MicroPython (host_tests/wasm/run.mjs)")
    log = EventLog(_CountingStorage(), segments=2, per_segment=3).open()
    log.append(_T0, events.BOOT)
    a = 0
    while binascii.crc32(struct.pack("<IIHHii", 2, _T0, events.ALARM_RAISED, 1, a, 0)) < limit:
        a += 1
    allocated = False
    heap_lock()
    try:
        log.append(_T0, events.ALARM_RAISED, a, 0)
    except MemoryError:
        allocated = True
    finally:
        heap_unlock()
    assert allocated


def test_event_texts():
    assert events.text(events.BOOT) == "boot"
    assert events.text(events.STORE_CORRUPT) == "store corrupt"
    assert events.text(999) == "event 999"
    assert events.args(events.BOLUS_GRANTED) == ("dose_ng", "kind")
    for c in _CODES:
        assert c in events.TEXT and c in events.ARGS
    assert len(events.TEXT) == len(_CODES)


# Stable numbers: a phone decodes old logs with them, so this table only ever grows.
_CODES = {
    1: "BOOT",
    2: "PROGRAM",
    3: "PROGRAM_REJECTED",
    4: "REFILL",
    5: "PRIME",
    6: "BOLUS_GRANTED",
    7: "BOLUS_REFUSED",
    8: "BOLUS_DONE",
    9: "BOLUS_CANCELLED",
    10: "SUSPEND",
    11: "RESUME",
    12: "STOP",
    13: "CLOCK_SET",
    14: "LOW_RESERVOIR",
    15: "EMPTY_RESERVOIR",
    16: "ALARM_RAISED",
    17: "ALARM_CLEARED",
    18: "ALARM_ACK",
    19: "TASK_FAULT",
    20: "STORE_CORRUPT",
    21: "AUTH_LOCKOUT",
    22: "PROGRAM_UNCHECKED",
    23: "CLOCK_INVALID",
    24: "SESSION_FAILED",
    25: "SESSION_OPENED",
    26: "REFILL_RESIDUAL",
    27: "REFILL_DISCREPANCY",
    28: "CLOCK_NOT_SET",
    29: "BATTERY_CONFIRMED",
    32: "TRIAL_PROGRAMMED",
    33: "TRIAL_STEP",
    34: "TRIAL_END",
    35: "PAIN_SCORE",
    36: "COMMAND",
    37: "CONTENT",
}


def test_event_numbers_are_stable():
    for code in _CODES:
        assert getattr(events, _CODES[code]) == code, _CODES[code]
