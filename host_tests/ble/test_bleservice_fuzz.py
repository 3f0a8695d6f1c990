"""Fuzzing the BLE frame and command layer with hypothesis, through the service's IRQ path on the fake radio.

Frames written to the command point and the RACP: random bytes, well-formed frames around random chunks, frames of
messages that look like commands with forged MACs, and single-byte corruptions of authentic commands. At least
100 000 frames per run (PUMP_FUZZ_FRAMES=n for more). Nothing raises; every frame that completes a message or is
refused gets exactly one answer; nothing in the pump changes, since no authenticated command gets through (none of
these is sealed in the open session: each is refused by the session before its MAC is even looked at). A second
test sends authenticated commands with arbitrary opcodes and parameters: each gets one answer with a known code.
"""

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pump import errors
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT
from pump.frames import LAST, MORE, VERSION, Reassembler, crc16, split
from pump.seal import OVERHEAD
from support.blebench import Bench, snapshot
from support.keys import KC, command


FRAMES = int(os.environ.get("PUMP_FUZZ_FRAMES", "100000"))
PER_EXAMPLE = 50
_CODES = {v for k, v in vars(errors).items() if k.startswith("E_")} | {0}


def _frame(ctl, e2e, idx, chunk, good_crc):
    f = bytearray((ctl, e2e, idx)) + chunk
    c = crc16(f)
    if not good_crc:
        c ^= 0x0101
    return bytes(f + bytes((c & 0xFF, c >> 8)))


def _forged(opcode, role, counter, params, tag, e2e):
    return split(struct.pack("<BBI", opcode, role, counter) + params + tag, e2e)


def _corrupted(counter, opcode, params, pos, bit):
    frames = split(command(KC, ROLE_CLINICIAN, counter, opcode, params), counter)
    i = pos % len(frames)
    f = bytearray(frames[i])
    f[(pos // len(frames)) % len(f)] ^= 1 << bit
    frames[i] = bytes(f)
    return frames


_small = st.integers(0, 3)
_frames = st.one_of(
    st.binary(max_size=24).map(lambda b: [b]),
    st.builds(_frame, st.sampled_from((VERSION, VERSION | LAST, 2, 0x91)) | st.integers(0, 255), _small, _small,
              st.binary(max_size=15), st.booleans() | st.just(True)).map(lambda f: [f]),
    st.builds(_forged, st.integers(0, 14), st.integers(0, 3), st.integers(0, 2**32 - 1), st.binary(max_size=12),
              st.binary(min_size=32, max_size=32), st.integers(0, 255)),
    st.builds(_corrupted, st.integers(1, 2**32 - 1), st.integers(1, 12), st.binary(max_size=10),
              st.integers(0, 10**6), st.integers(0, 7)),
)
_messages = st.lists(st.tuples(st.booleans(), _frames), min_size=1, max_size=8)


class _Run:
    def __init__(self):
        self.bench = Bench()
        self.bench.connect()
        self.before = snapshot(self.bench)
        self.counters = list(self.bench.svc.auth.counters)
        self.frames = 0
        self.shadow = {}

    def write(self, handle, frame):
        b = self.bench
        radio = b.radio
        shadow = self.shadow.setdefault(handle, Reassembler(4096 if handle == b.svc.h_command else 16 + OVERHEAD))
        expect = 1 if shadow.feed(frame) != MORE else 0
        before = len(radio.indicated)
        radio.write(handle, frame)
        b.settle()
        while b.svc.history.records is not None:  # a history transfer runs to its end before the next frame
            b.rig.clock.t_ms += b.svc.interval_ms
            b.settle()
        answers = [f for _c, h, f in radio.indicated[before:] if h == handle and f[0] & LAST]
        assert len(answers) == expect, frame  # one answer (its last frame) per message or refused frame
        self.frames += 1


def test_fuzzed_frames_are_answered_and_change_nothing():
    run = _Run()
    examples = -(-FRAMES // PER_EXAMPLE)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(st.lists(_messages, min_size=1, max_size=1))
    def fuzz(batch):
        b = run.bench
        written = 0
        for to_racp, frames in batch[0]:
            for f in frames:
                run.write(b.svc.h_racp if to_racp else b.svc.h_command, f)
                written += 1
        # pad every example to PER_EXAMPLE frames with random single frames of the same kinds
        i = 0
        while written < PER_EXAMPLE:
            filler = bytes((i * 37 + written) & 0xFF for _ in range(i % 9))
            run.write(b.svc.h_command if i & 1 else b.svc.h_racp, filler)
            written += 1
            i += 1
        assert snapshot(b) == run.before
        assert b.svc.auth.counters == run.counters
        del b.radio.indicated[:], b.radio.notified[:]
        b.rig.clock.t_ms += 4 * 3600 * 1000  # past any lockout, so the next example reaches the checks again

    fuzz()
    assert run.frames >= FRAMES
    print("fuzzed %d frames" % run.frames)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from((ROLE_CLINICIAN, ROLE_PATIENT)), st.integers(0, 16),
                          st.binary(max_size=12)), min_size=1, max_size=12))
def test_authenticated_commands_with_arbitrary_parameters_are_answered(cmds):
    b = Bench()
    b.connect()
    for role, opcode, params in cmds:
        opcode_, result, _counter, _rest = b.send(role, opcode, params)
        assert opcode_ == opcode and result in _CODES
        if result == errors.E_ROLE or result == errors.E_OPCODE:
            b.counters[role] -= 1  # refused before its counter was used
    b.rig.run(3600000)  # the pump runs on
    b.settle()
