"""BLE frames: CRC-16/CCITT-FALSE, fragmenting into preallocated frames and reassembling them, refused frames."""

from pump.errors import E_FRAME
from pump.frames import (DONE, LAST, MAX_FRAME, MIN_FRAME, MORE, OVERHEAD, VERSION, Framer, Reassembler, count, crc16,
                         split)
from support import raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _crc_bitwise(data):
    # the textbook MSB-first shift register, independent of the nibble table
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _data(n, seed=1):
    x = seed
    out = bytearray(n)
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = x >> 16 & 0xFF
    return bytes(out)


def test_crc16_check_value_and_bitwise_reference():
    assert crc16(b"123456789") == 0x29B1  # the catalogued check value of CRC-16/CCITT-FALSE
    assert crc16(b"") == 0xFFFF
    for n in (1, 2, 7, 20, 63, 244):
        data = _data(n, n)
        assert crc16(data) == _crc_bitwise(data)
        assert crc16(b"xx" + data + b"yy", 2, 2 + n) == crc16(data)


def test_crc16_matches_binascii_crc_hqx_where_there_is_one():
    try:
        from binascii import crc_hqx
    except ImportError:
        return  # MicroPython's binascii has no crc_hqx; the bitwise reference above covers it
    for n in range(0, 300, 7):
        data = _data(n, 3 * n + 1)
        assert crc16(data) == crc_hqx(data, 0xFFFF)


def test_frame_layout():
    frames = split(b"\xaa\xbb", 7)
    assert len(frames) == 1
    f = frames[0]
    assert f[0] == VERSION | LAST and f[1] == 7 and f[2] == 0 and f[3:5] == b"\xaa\xbb"
    assert f[5] | f[6] << 8 == crc16(f, 0, 5)
    frames = split(bytes(range(31)), 300)  # the counter is taken mod 256
    assert [len(f) for f in frames] == [20, 20, 6] and [f[2] for f in frames] == [0, 1, 2]
    assert [f[0] for f in frames] == [VERSION, VERSION, VERSION | LAST] and {f[1] for f in frames} == {44}
    empty = split(b"", 0)
    c = crc16(bytes((VERSION | LAST, 0, 0)))
    assert empty == [bytes((VERSION | LAST, 0, 0, c & 0xFF, c >> 8))]


def test_split_and_reassemble_every_length_and_frame_size():
    r = Reassembler(600)
    for size in (MIN_FRAME, 23, 64, MAX_FRAME, 400):
        for n in (0, 1, 14, 15, 16, 29, 30, 31, 239, 240, 241, 600):
            msg = _data(n, n + size)
            frames = split(msg, n, size)
            assert len(frames) == count(n, min(size, MAX_FRAME))
            assert all(len(f) <= min(size, MAX_FRAME) for f in frames)
            results = [r.feed(f) for f in frames]
            assert results == [MORE] * (len(frames) - 1) + [DONE]
            assert bytes(r.buf[: r.n]) == msg and r.e2e == n & 0xFF


def test_framer_reuses_its_views_for_the_same_length_and_size():
    f = Framer(29)
    k = f.pack(_data(29), 29, 1, 20)
    first = f.views
    assert k == 2 and [len(v) for v in first] == [20, 19]
    f.pack(_data(29, 2), 29, 2, 20)
    assert f.views is first  # same layout: nothing new
    r = Reassembler(64)
    assert r.feed(first[0]) == MORE and r.feed(first[1]) == DONE and bytes(r.buf[:29]) == _data(29, 2)
    assert f.pack(_data(29, 3), 29, 3, 100) == 1 and f.views is not first
    with raises(ValueError):
        f.pack(_data(30), 30, 0, 20)  # longer than the framer was made for


def test_at_most_256_fragments():
    n = 256 * (MIN_FRAME - OVERHEAD)
    assert count(n, MIN_FRAME) == 256
    frames = split(_data(n), 9)
    r = Reassembler(n)
    assert [r.feed(f) for f in frames][-1] == DONE and r.n == n
    with raises(ValueError) as e:
        split(_data(n + 1), 9)
    assert str(e.value) == "message too long"  # refused before any frame is written


def _refused(r, frame, why):
    assert r.feed(frame) == E_FRAME and r.error == why, (frame, r.error)


def test_refused_frames_and_restart():
    r = Reassembler(40)
    good = split(_data(40), 5)
    _refused(r, b"\x81\x00\x00\x00", "short")
    bad_version = bytearray(good[0])
    bad_version[0] = 2
    _refused(r, bytes(bad_version), "version")
    reserved = bytearray(good[0])
    reserved[0] |= 0x10
    _refused(r, bytes(reserved), "version")
    flipped = bytearray(good[1])
    flipped[4] ^= 1
    assert r.feed(good[0]) == MORE
    _refused(r, bytes(flipped), "crc")
    _refused(r, good[1], "order")  # the refusal started over: fragment 1 has no fragment 0 before it
    assert r.feed(good[0]) == MORE
    _refused(r, good[2], "order")  # a fragment skipped
    other = split(_data(40, 9), 6)
    assert r.feed(good[0]) == MORE
    _refused(r, other[1], "order")  # a fragment of another message (another counter)
    assert r.feed(good[0]) == MORE and r.feed(other[0]) == MORE  # a new fragment 0 starts the message over
    assert [r.feed(f) for f in other[1:]] == [MORE, DONE] and bytes(r.buf[: r.n]) == _data(40, 9)
    small = Reassembler(39)
    assert small.feed(good[0]) == MORE and small.feed(good[1]) == MORE
    _refused(small, good[2], "length")
    assert [r.feed(f) for f in good] == [MORE, MORE, DONE]  # nothing refused before spoils a good message


def test_a_255th_fragment_must_be_the_last():
    frames = split(_data(256 * 15), 1)
    r = Reassembler(300 * 15)
    for f in frames[:-1]:
        assert r.feed(f) == MORE
    last = bytearray(frames[-1])
    last[0] = VERSION  # fragment 255 claiming more follow
    c = crc16(last, 0, len(last) - 2)
    last[-2], last[-1] = c & 0xFF, c >> 8
    _refused(r, bytes(last), "length")


def test_a_message_starts_only_at_fragment_0():
    frames = split(_data(40), 0)  # counter 0, as a fresh Reassembler's
    r = Reassembler(40)
    _refused(r, frames[1], "order")  # before any message
    assert [r.feed(f) for f in frames] == [MORE, MORE, DONE]
    _refused(r, frames[1], "order")  # after a complete message
    assert r.feed(frames[0]) == MORE
    r.reset()  # the service resets on a new connection
    _refused(r, frames[1], "order")
    assert [r.feed(f) for f in frames] == [MORE, MORE, DONE] and bytes(r.buf[: r.n]) == _data(40)
