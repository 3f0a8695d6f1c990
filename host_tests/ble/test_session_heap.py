"""Sealed frames allocate nothing (MicroPython only): with the dose cycle running, every status snapshot is sealed
(AES-128-CTR + HMAC tag) and framed under micropython.heap_lock(), and so is every history record; the pump opens
sealed requests under the lock too. gc.mem_alloc() counts the bytes per sealed frame; the seal and open times per
message are printed (no assertion on them). The block cipher is cryptolib's on the unix port, as on the boards,
and the pure-Python stand-in on the webassembly port (which has no cryptolib).
"""

from pump.cmdauth import ROLE_MONITOR
from pump.compat import ticks_diff
from pump.eventlog import RECORD_SIZE, encode
from pump.frames import MIN_FRAME, Framer
from pump.seal import OVERHEAD, STREAM_HISTORY, STREAM_RACP, STREAM_STATUS
from pump.telemetry import STATUS_LEN, Telemetry
from support.heap import micropython_or_skip, warm_pump
from support.session import Pair

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_WAKES = 200  # one step and one status per wake, inside the warm pump's quiet window


class _Sealer:
    """The chain a sealed status notification runs: snapshot, seal, frames (MTU 23)."""

    def __init__(self):
        self.rig = warm_pump()
        self.pair = Pair(ROLE_MONITOR).open()
        self.telemetry = Telemetry(self.rig.pump)
        self.st = bytearray(STATUS_LEN)
        self.sealed = bytearray(STATUS_LEN + OVERHEAD)
        self.framer = Framer(STATUS_LEN + OVERHEAD)
        self.frames = 0
        self.e2e = 0
        for _ in range(3):  # every path has run once (the framer's layout for this size)
            self.wake()

    def wake(self):
        rig = self.rig
        clock = rig.clock
        deadline = rig.pump.plan.next_deadline()
        clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
        rig.pump.tick(deadline)
        self.telemetry.status(self.st, deadline)
        n = self.pair.pump.seal(STREAM_STATUS, self.st, STATUS_LEN, self.sealed)
        self.e2e = (self.e2e + 1) & 0xFF
        self.frames += self.framer.pack(self.sealed, n, self.e2e, MIN_FRAME)


def _locked(mp, fn, times):
    i = 0
    mp.heap_lock()
    try:
        while i < times:
            fn()
            i += 1
    finally:
        mp.heap_unlock()
    return i


def test_sealed_status_notifications_allocate_nothing():
    mp = micropython_or_skip()
    s = _Sealer()
    steps, frames = s.rig.pump.steps, s.frames
    seq = s.pair.pump.tx.seqs[STREAM_STATUS]
    assert _locked(mp, s.wake, _WAKES) == _WAKES
    assert s.rig.pump.steps - steps == _WAKES
    assert s.pair.pump.tx.seqs[STREAM_STATUS] - seq == _WAKES
    assert s.frames - frames == 4 * _WAKES  # 50 sealed bytes: four frames at MTU 23
    last = bytes(s.sealed)
    assert s.pair.central.open(STREAM_STATUS, last) == bytes(s.st)  # what went out under the lock opens


def test_bytes_allocated_per_sealed_frame_is_zero():
    mp = micropython_or_skip()
    import gc

    s = _Sealer()
    records = []
    for i in range(50):  # history records as the event log gives them (its CRC-32 is made before, by the log)
        rec = bytearray(RECORD_SIZE)
        encode(rec, memoryview(rec)[:20], 100 + i, 839059200 + i, 3, i, -i)
        records.append(rec)
    sealed = bytearray(RECORD_SIZE + OVERHEAD)
    pump = s.pair.pump
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for i in range(50):
            s.wake()
            pump.seal(STREAM_HISTORY, records[i], RECORD_SIZE, sealed)
        allocated = gc.mem_alloc() - before
    finally:
        gc.enable()
    print("heap per sealed frame (status and history, %s): %d B" % (_port(), allocated // 100))
    assert allocated == 0, "%d bytes for 100 sealed messages" % allocated
    assert s.pair.central.open(STREAM_HISTORY, bytes(sealed))[:4] == bytes((149, 0, 0, 0))
    assert mp is not None


def test_opening_sealed_requests_allocates_nothing():
    mp = micropython_or_skip()
    p = Pair(ROLE_MONITOR).open()
    sealed = [p.central.seal(STREAM_RACP, bytes((1, 3, 1, i, 0, 0, 0))) for i in range(40)]
    buf = bytearray(7 + OVERHEAD)
    opened = [0]

    def one():
        msg = sealed[opened[0]]
        for i in range(len(msg)):
            buf[i] = msg[i]
        if p.pump.open(STREAM_RACP, buf, len(msg)) == 0:
            opened[0] += 1

    assert _locked(mp, one, 40) == 40
    assert opened[0] == 40 and p.pump.n == 7 and buf[3] == 39


def test_seal_and_open_times_per_message():
    mp = micropython_or_skip()
    import time

    p = Pair(ROLE_MONITOR).open()
    payload = bytearray(range(STATUS_LEN))
    out = bytearray(STATUS_LEN + OVERHEAD)
    n = 100
    t0 = time.ticks_us()
    for _ in range(n):
        p.pump.seal(STREAM_STATUS, payload, STATUS_LEN, out)
    seal_us = time.ticks_diff(time.ticks_us(), t0) // n
    msgs = [p.central.seal(STREAM_RACP, payload) for _ in range(n)]
    buf = bytearray(len(out))
    t0 = time.ticks_us()
    for msg in msgs:
        for i in range(len(msg)):
            buf[i] = msg[i]
        p.pump.open(STREAM_RACP, buf, len(msg))
    open_us = time.ticks_diff(time.ticks_us(), t0) // n
    print("sealed 29-byte status (%s): seal %d us, open %d us per message" % (_port(), seal_us, open_us))
    assert p.pump.rx.seqs[STREAM_RACP] == n and mp is not None


def test_the_harness_catches_an_allocating_block_cipher():
    mp = micropython_or_skip()
    p = Pair(ROLE_MONITOR).open()

    class Allocating:
        def encrypt(self, inb, out):
            out[0] = bytes(inb)[0]  # a copy of the block on the heap

    from pump.aesctr import AesCtr

    p.pump.tx._ctr = AesCtr(Allocating())
    out = bytearray(40)
    caught = False
    try:
        _locked(mp, lambda: p.pump.seal(STREAM_STATUS, b"x" * 8, 8, out), 2)
    except MemoryError:
        caught = True
    assert caught


def _port():
    import sys

    return "32-bit" if sys.maxsize < 1 << 32 else "64-bit"
