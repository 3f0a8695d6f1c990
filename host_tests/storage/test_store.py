"""Two-slot state store: round trip, newest wins, every-byte power cuts, bit rot, versions, sequence wrap."""

import struct

from support.flash import FakeStorage, PowerCut
from pump.errors import E_RANGE, E_STORAGE, PumpError
from pump.store import MAX_PAYLOAD, Store
from support import raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_OVERHEAD = 14  # 10-byte header + 4-byte CRC


def _saved(*payloads):
    st = FakeStorage()
    s = Store(st)
    s.load()
    for p in payloads:
        s.save(p)
    return st


def test_empty_storage_loads_none():
    s = Store(FakeStorage())
    assert s.load() is None
    assert s.seq == 0
    assert s.corrupt_slots == 0


def test_round_trip():
    st = FakeStorage()
    s = Store(st)
    s.load()
    s.save(b"rate=1200")
    assert s.load() == b"rate=1200"
    assert Store(st).load() == b"rate=1200"


def test_round_trip_empty_and_max_payload():
    big = bytes(i & 0xFF for i in range(MAX_PAYLOAD))
    st = _saved(b"", big)
    s = Store(st)
    assert s.load() == big
    assert len(st.blobs["state.b"]) == MAX_PAYLOAD + _OVERHEAD
    s.save(b"")
    assert Store(st).load() == b""


def test_payload_too_long_is_refused_and_nothing_written():
    st = _saved(b"keep")
    st.writes = 0
    s = Store(st)
    with raises(PumpError) as e:
        s.save(bytes(MAX_PAYLOAD + 1))
    assert e.value.code == E_RANGE
    assert e.value.detail == "payload"
    assert st.writes == 0
    assert Store(st).load() == b"keep"


def test_newest_wins():
    st = _saved(b"one", b"two", b"three")
    s = Store(st)
    assert s.load() == b"three"
    assert s.seq == 3


def test_alternating_slots_and_counters():
    st = FakeStorage()
    s = Store(st)
    s.load()
    names = []
    for k in range(5):
        s.save(b"p%d" % k)
        names.append(st.last_written)
    assert names == ["state.a", "state.b", "state.a", "state.b", "state.a"]
    assert s.writes == 5
    assert st.writes == 5
    assert s.seq == 5


def test_save_never_touches_the_newest_record():
    st = _saved(b"one", b"two")  # newest in slot b
    before = bytes(st.blobs["state.b"])
    Store(st).save(b"three")  # save without an explicit load still finds the newest first
    assert bytes(st.blobs["state.b"]) == before
    assert Store(st).load() == b"three"


def test_seq_continues_after_reload():
    st = _saved(b"a", b"b")
    s = Store(st)
    s.load()
    assert s.seq == 2
    s.save(b"c")
    assert s.seq == 3
    t = Store(st)
    assert t.load() == b"c"
    assert t.seq == 3


def _cut_every_byte(st, old, new):
    """Cut a save of `new` at every byte boundary; after the reboot load must give old (or new once complete)."""
    n_rec = len(new) + _OVERHEAD
    for n in range(n_rec + 1):
        flash = st.clone()
        s = Store(flash)
        assert s.load() == old
        flash.cut_after(n)
        with raises(PowerCut):
            s.save(new)
        flash.power_on()
        s2 = Store(flash)
        got = s2.load()
        if n == n_rec:
            assert got == new
        else:
            assert got == old, (n, got)
        # the store keeps working after the torn slot
        s2.save(b"after")
        assert Store(flash).load() == b"after"


def test_power_cut_at_every_byte_of_a_save_into_slot_b():
    _cut_every_byte(_saved(b"old payload"), b"old payload", b"new payload, a bit longer")


def test_power_cut_at_every_byte_of_a_save_into_slot_a():
    _cut_every_byte(_saved(b"older", b"old"), b"old", b"new")


def test_power_cut_during_the_first_save_gives_none_or_the_payload():
    for n in range(3 + _OVERHEAD + 1):
        st = FakeStorage()
        st.cut_after(n)
        with raises(PowerCut):
            Store(st).save(b"new")
        st.power_on()
        got = Store(st).load()
        assert got == (b"new" if n == 3 + _OVERHEAD else None)


def test_corrupt_byte_anywhere_in_newest_falls_back_to_older():
    st = _saved(b"older", b"newest")
    for off in range(len(st.blobs["state.b"])):
        flash = st.clone()
        flash.corrupt("state.b", off)
        s = Store(flash)
        assert s.load() == b"older", off
        assert s.corrupt_slots == 1
        assert s.seq == 1
        s.save(b"next")  # overwrites the corrupt slot, keeps the older one
        assert flash.last_written == "state.b"
        assert Store(flash).load() == b"next"


def test_both_corrupt_gives_none():
    st = _saved(b"one", b"two")
    st.corrupt("state.a", 12)
    st.corrupt("state.b", 0, 0x01)
    s = Store(st)
    assert s.load() is None
    assert s.corrupt_slots == 2
    assert s.seq == 0


def test_truncated_or_extended_blob_is_invalid():
    st = _saved(b"one", b"two")
    st.blobs["state.b"] = st.blobs["state.b"][:-1]
    assert Store(st).load() == b"one"
    st = _saved(b"one", b"two")
    st.blobs["state.b"].append(0)
    assert Store(st).load() == b"one"


def test_record_layout():
    st = _saved(b"xyz")
    blob = bytes(st.blobs["state.a"])
    assert struct.unpack_from("<HBBIH", blob, 0) == (0x5453, 1, 0, 1, 3)
    assert blob[:2] == b"ST"
    assert blob[10:13] == b"xyz"
    import binascii

    assert struct.unpack_from("<I", blob, 13)[0] == binascii.crc32(blob[:13])


def test_other_version_is_invalid():
    st = _saved(b"v1 state", b"v1 newer")
    s2 = Store(st, version=2)
    assert s2.load() is None
    assert s2.other_version_slots == 2
    assert s2.corrupt_slots == 0
    s2.save(b"v2 state")
    assert Store(st, version=2).load() == b"v2 state"
    s1 = Store(st)
    assert s1.load() == b"v1 newer"  # slot a (v1 older) was overwritten by v2; slot b still holds v1
    assert s1.other_version_slots == 1


def test_version_range_checked():
    with raises(PumpError) as e:
        Store(FakeStorage(), version=256)
    assert e.value.code == E_RANGE


def test_seq_wraps_at_u32():
    st = FakeStorage()
    s = Store(st)
    s.load()
    s.seq = 0xFFFFFFFE
    s.save(b"last before wrap")  # seq 0xFFFFFFFF, slot a
    s.save(b"first after wrap")  # seq 0, slot b
    assert s.seq == 0
    t = Store(st)
    assert t.load() == b"first after wrap"
    assert t.seq == 0
    t.save(b"then 1")
    assert t.seq == 1
    assert st.last_written == "state.a"
    assert Store(st).load() == b"then 1"


class _FailingStorage(FakeStorage):
    def write(self, name, data):
        raise OSError(28)


def test_storage_error_is_a_pump_error_and_keeps_state():
    st = _FailingStorage()
    s = Store(st)
    s.load()
    with raises(PumpError) as e:
        s.save(b"x")
    assert e.value.code == E_STORAGE
    assert e.value.detail == "state.a"
    assert s.seq == 0
    assert s.writes == 0


def test_fake_storage_cuts_like_the_role_says():
    st = FakeStorage()
    st.write("x", b"0123456789")
    st.cut_after(4)
    with raises(PowerCut):
        st.write("x", b"abcdefgh")
    assert st.blobs["x"] == bytearray(b"abcd")  # a cut write leaves the blob truncated to what was written
    with raises(PowerCut):
        st.read("x")  # off until power comes back
    st.power_on()
    st.append("x", b"ef")
    st.cut_after(3)
    st.append("x", b"gh")  # 2 bytes: inside the budget, one byte left
    with raises(PowerCut):
        st.append("x", memoryview(b"ijkl"))
    st.power_on()
    assert st.read("x") == b"abcdefghi"  # a cut append leaves a partial tail
    assert (st.writes, st.appends, st.bytes_written) == (2, 3, 10 + 4 + 2 + 2 + 1)
    st.corrupt("x", -1, 0x01)
    assert st.read("x") == b"abcdefghh"
    st.remove("x")
    st.remove("x")
    assert st.read("x") is None


def _record(seq, payload, magic=0x5453, version=1):
    from pump.compat import crc32

    body = struct.pack("<HBBIH", magic, version, 0, seq, len(payload)) + payload
    return bytearray(body + struct.pack("<I", crc32(body)))


def test_a_record_in_slot_b_alone_is_found():
    st = FakeStorage()
    st.blobs["state.b"] = _record(7, b"only b")
    s = Store(st)
    assert s.load() == b"only b" and s.seq == 7
    s.save(b"next")
    assert st.last_written == "state.a" and Store(st).load() == b"next"


def test_newer_follows_serial_number_arithmetic_at_its_edges():
    cases = (
        (5, 5, b"a"),  # the same number: neither is newer, the first valid slot stands
        (0, 0x80000000, b"a"),  # exactly half the range apart: neither is newer
        (0, 0x7FFFFFFF, b"b"),  # the largest step forward
        (0x80000001, 0, b"b"),  # 0 is 2**31 - 1 after 0x80000001
    )
    for seq_a, seq_b, winner in cases:
        st = FakeStorage()
        st.blobs["state.a"] = _record(seq_a, b"a")
        st.blobs["state.b"] = _record(seq_b, b"b")
        assert Store(st).load() == winner, (seq_a, seq_b)


def test_a_wrong_magic_is_invalid_even_with_a_good_crc():
    st = _saved(b"one")
    st.blobs["state.b"] = _record(9, b"bad magic", magic=0x5454)
    s = Store(st)
    assert s.load() == b"one" and s.corrupt_slots == 1


def test_before_any_load_nothing_was_found():
    s = Store(_saved(b"one", b"two"))
    assert (s.seq, s.writes, s.corrupt_slots, s.other_version_slots) == (0, 0, 0, 0)


def test_parameter_edges():
    Store(FakeStorage(), version=1)
    Store(FakeStorage(), version=255)
    s = Store(FakeStorage(), max_payload=0)
    s.save(b"")
    with raises(PumpError):
        s.save(b"x")
    Store(FakeStorage(), max_payload=65535)
    for kw, name in (({"version": 0}, "version"), ({"version": 256}, "version"), ({"max_payload": -1}, "max_payload"),
                     ({"max_payload": 65536}, "max_payload")):
        with raises(PumpError) as e:
            Store(FakeStorage(), **kw)
        assert (e.value.code, e.value.detail) == (E_RANGE, name)


class _UnreadableStorage(FakeStorage):
    def read(self, name):
        raise OSError(5)


def test_a_read_error_is_a_storage_error_naming_the_slot():
    with raises(PumpError) as e:
        Store(_UnreadableStorage()).load()
    assert (e.value.code, e.value.detail) == (E_STORAGE, "state.a")


# ---- what the boot needs to judge: older versions, payload checks, torn against rotten slots ----


def test_older_versions_are_read_and_newer_unknown_ones_are_not():
    st = _saved(b"v1 older", b"v1 newer")
    s = Store(st, version=2, older=(1,))
    assert s.load() == b"v1 newer" and s.version_loaded == 1 and s.failed_slots == 0
    s.save(b"v2")  # the older v1 slot is the one written
    s = Store(st, version=2, older=(1,))
    assert s.load() == b"v2" and s.version_loaded == 2
    other = FakeStorage()
    Store(other, version=3).save(b"v3")
    st.blobs["state.b"] = other.blobs["state.a"]  # a newer firmware's record beside it: never guessed at
    s = Store(st, version=2, older=(1,))
    assert s.load() == b"v2" and s.other_version_slots == 1 and s.rotten_slots == 1


def test_a_record_its_parser_refuses_counts_as_invalid_and_the_other_slot_is_used():
    st = _saved(b"good", b"bad!")

    def parse(payload, version):
        if payload == b"bad!":
            raise PumpError(E_RANGE, "value")
        return payload.upper()

    s = Store(st)
    assert s.load(parse) == b"GOOD" and s.seq == 1
    assert (s.invalid_slots, s.corrupt_slots, s.failed_slots, s.rotten_slots) == (1, 0, 1, 1)
    s.save(b"next")  # over the refused record, the good one kept
    assert Store(st).load() == b"next" and bytes(st.blobs["state.a"])[10:14] == b"good"
    st2 = _saved(b"bad!", b"bad!")
    s = Store(st2)
    assert s.load(parse) is None and s.invalid_slots == 2 and s.seq == 0


def test_a_torn_slot_is_told_from_a_rotten_one():
    st = _saved(b"older", b"newest payload")
    full = bytes(st.blobs["state.b"])
    for cut in (0, 1, 2, 9, 10, len(full) - 1):
        st.blobs["state.b"] = bytearray(full[:cut])  # what a write cut by a power failure leaves
        s = Store(st)
        assert s.load() == b"older" and s.found_slots == 2
        assert (s.corrupt_slots, s.torn_slots, s.rotten_slots) == (1, 1, 0), cut
    for rot in (bytearray(full[:-1] + bytes([full[-1] ^ 1])), bytearray(b"XY" + full[2:8]), bytearray(full + b"\0")):
        st.blobs["state.b"] = rot  # a flipped CRC bit, a wrong magic, a blob longer than its record
        s = Store(st)
        assert s.load() == b"older" and (s.corrupt_slots, s.torn_slots, s.rotten_slots) == (1, 0, 1)
    st.blobs["state.a"] = bytearray(full[:5])
    st.blobs["state.b"] = bytearray(full[:7])
    s = Store(st)  # both torn: no power cut does that (a save never writes the newest slot)
    assert s.load() is None and (s.corrupt_slots, s.torn_slots, s.rotten_slots) == (2, 0, 2)
