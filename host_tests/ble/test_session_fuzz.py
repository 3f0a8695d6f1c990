"""Fuzzing the pump's end of the secure session with hypothesis: random bytes and mutations of genuine sealed
messages (bits flipped, cut, lengthened, counter or stream byte changed, a slice overwritten, sent to another
stream), written to the handshake, to sealed-message opening and to the command point, in an open clinician session.

PUMP_SESSION_FUZZ_FRAMES frames per run (default 20 000; `make pytest` runs 100 000). Nothing raises; each frame's
answer is the one an independent model of the checks predicts (every refusal a code); a refused frame changes
nothing (state, role, both directions' counters, the buffer it came in); after every example a genuine message
still opens. A well-formed HELLO is the one frame that may change the state: it must start a new handshake, which
the test then completes so the next example finds an open session again.
"""

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.aes import new_ecb
from pump import session as ss
from pump.cmdauth import ROLE_CLINICIAN, parse_keys
from pump.errors import E_AUTH, E_INSECURE, E_MALFORMED, E_REPLAY, E_ROLE, E_STATE
from pump.seal import MAX_SEQ, OVERHEAD, STREAM_COMMAND, STREAM_RACP, STREAMS
from support.keys import key_doc
from support.session import KEYS, PUMP_ID, Nonces

FRAMES = int(os.environ.get("PUMP_SESSION_FUZZ_FRAMES", "20000"))
PER_EXAMPLE = 50
_POOL = 60  # genuine sealed messages per stream the mutations start from
_STREAMS = (STREAM_RACP, STREAM_COMMAND)


class _Run:
    def __init__(self):
        self.pump = ss.PumpSession(parse_keys(key_doc()), PUMP_ID, Nonces(), new_ecb)
        self.central = ss.CentralSession(KEYS[ROLE_CLINICIAN], ROLE_CLINICIAN, new_ecb)
        self.open()
        self.frames = 0
        self.refused = {}
        self.hellos = 0

    def open(self):
        hello = self.central.hello(bytes(range(16)))
        confirm = self.central.confirm(self.pump.handshake(hello, len(hello)))
        self.central.established(self.pump.handshake(confirm, len(confirm)))
        self.pool = {s: {} for s in _STREAMS}
        self.next = dict.fromkeys(_STREAMS, 0)

    def sealed(self, stream, i):
        """Genuine message i (counter i + 1) of a stream, sealed when first asked for; a command starts with an
        opcode and the session's role, so a genuine one passes open_command."""
        pool = self.pool[stream]
        if i not in pool:
            self.central.tx.seqs[stream] = i
            pool[i] = self.central.seal(stream, bytes((6, ROLE_CLINICIAN, i, 0, 0, 0)))
        return pool[i]

    def snapshot(self):
        p = self.pump
        return (p.state, p.role, p._pending is not None, tuple(p.rx.seqs), tuple(p.tx.seqs))

    def genuine(self, stream):
        """A genuine message not yet opened still opens (the session is unharmed)."""
        i = self.next[stream]
        self.next[stream] = i + 1
        buf = bytearray(self.sealed(stream, i))
        assert self.pump.open(stream, buf, len(buf)) == 0

    def expect_open(self, stream, msg):
        """The code the checks of pump.seal give, from the layout alone (the tag of a changed message never holds)."""
        n = len(msg)
        if n < OVERHEAD or not 0 < stream < STREAMS or msg[0] != stream or msg[4] > 0x3F:
            return E_MALFORMED
        seq = int.from_bytes(msg[1:5], "little")
        if seq <= self.pump.rx.seqs[stream]:
            return E_REPLAY
        return E_AUTH

    def expect_handshake(self, msg):
        """(code, or None for a CHALLENGE) the pump answers in an open session."""
        if not msg:
            return E_MALFORMED
        if msg[0] == ss.HELLO:
            ok = len(msg) == ss.HELLO_LEN and msg[1] == ss.VERSION and msg[2] in ss.ROLES
            return None if ok else E_MALFORMED
        return E_STATE if msg[0] == ss.CONFIRM else E_MALFORMED

    def feed(self, target, stream, msg):
        before = self.snapshot()
        buf = bytearray(msg)
        if target == "handshake":
            reply = self.pump.handshake(buf, len(buf))
            want = self.expect_handshake(msg)
            if want is None:  # a new handshake began: the one change a frame may make
                assert reply[0] == ss.CHALLENGE and self.pump.state == ss.CHALLENGED
                self.hellos += 1
                self.open()
                return
            assert reply == ss.result(want), (msg, reply)
            code = want
        elif target == "command":
            code = self.pump.open_command(buf, len(buf))
            want = self.expect_open(STREAM_COMMAND, msg)
            assert code == want, (msg, code, want)
        else:
            code = self.pump.open(stream, buf, len(buf))
            assert code == self.expect_open(stream, msg), (stream, msg, code)
        assert code in (E_MALFORMED, E_REPLAY, E_AUTH, E_STATE, E_ROLE, E_INSECURE)
        assert self.snapshot() == before and buf == bytearray(msg)
        self.refused[code] = self.refused.get(code, 0) + 1
        self.frames += 1


def _mutate(msg, kind, pos, value, seq):
    b = bytearray(msg)
    i = pos % len(b)
    if kind == 0:  # one bit
        b[i] ^= 1 << (value & 7)
    elif kind == 1:  # cut
        del b[i:]
    elif kind == 2:  # lengthened
        b += bytes((value & 0xFF,)) * (1 + value % 20)
    elif kind == 3:  # another counter
        b[1:5] = (seq % (MAX_SEQ + 2) if value & 1 else seq & 0xFFFFFFFF).to_bytes(4, "little")
    elif kind == 4:  # another stream byte
        b[0] = value & 0xFF
    else:  # a slice overwritten
        for k in range(i, min(len(b), i + 1 + value % 8)):
            b[k] = (value * (k + 3)) & 0xFF
    if bytes(b) == msg:
        b[i % len(b) if b else 0:] = b"\xff"  # never the genuine message itself
    return bytes(b)


# One draw per frame (hypothesis's own bookkeeping is most of a frame's cost): kind = byte 0 % 8, a seed from bytes
# 1-4, the rest as data. Kinds 0-2: the data to the handshake, to opening on stream seed % 10, to the command point;
# 3 a handshake-shaped message; 4-7 a genuine sealed message mutated as the seed says (4-6 opened on the stream it
# was sealed for, 7 sent to the command point or the handshake).
_frame = st.binary(min_size=5, max_size=77).map(lambda b: (b[0] % 8, int.from_bytes(b[1:5], "little"), b[5:]))


def _message(run, kind, seed, data):
    """(target, stream, frame) of one fuzz case."""
    if kind < 3:
        return ("handshake", "open", "command")[kind], seed % 10, data
    if kind == 3:
        t = (ss.HELLO, ss.CONFIRM, ss.RESULT, seed & 0xFF)[(seed >> 8) & 3]
        v = (seed >> 10) % 5
        head = bytes((t,)) if t == ss.CONFIRM else bytes((t, 1 if v < 3 else v, (seed >> 13) & 3))
        return "handshake", 0, head + (data + bytes(18))[: 14 + (seed >> 16) % 5]
    s = _STREAMS[seed & 1]
    i = (seed >> 1) % _POOL
    seq = int.from_bytes(data[:4], "little") if len(data) >= 4 else seed
    msg = _mutate(run.sealed(s, i), (seed >> 7) % 6, (seed >> 10) % 97, (seed >> 17) & 0x7FFF, seq)
    if kind < 7:
        return "open", s, msg
    return ("command" if seed & 2 else "handshake"), s, msg


def test_fuzzed_session_frames_are_refused_with_a_code_and_change_nothing():
    run = _Run()
    examples = -(-FRAMES // PER_EXAMPLE)
    t0 = time.monotonic()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(st.lists(_frame, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def fuzz(batch):
        for kind, seed, data in batch:
            run.feed(*_message(run, kind, seed, data))
        for s in _STREAMS:
            if run.next[s] >= _POOL - 1:
                run.open()  # a fresh session before this one's genuine messages run out
            run.genuine(s)

    fuzz()
    elapsed = time.monotonic() - t0
    assert run.frames + run.hellos >= FRAMES
    assert {E_MALFORMED, E_REPLAY, E_AUTH, E_STATE} <= set(run.refused)
    print("fuzzed %d session frames in %.1f s: refused %s, %d new handshakes"
          % (run.frames + run.hellos, elapsed, dict(sorted(run.refused.items())), run.hellos))
