"""Fuzz over the air: frames written to the pump's command and history (RACP) points through the whole stack (ATT
writes, the shim, the service's reassembly, authentication, the RACP parser). Every example is answered (malformed
frames with an error code), nothing crashes, and the pump's state does not move.

Fewer examples than the fuzz on the fake radio, as each one is a real ATT exchange: BLE_FUZZ_EXAMPLES (2000).
"""

import asyncio
import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pump import frames, racp
from pump.cmdauth import HEAD
from pump.errors import E_FRAME, MESSAGES
from support.blerig import connect, pair, pump_on_air
from tools.pumplink import proto as pp

EXAMPLES = int(os.environ.get("BLE_FUZZ_EXAMPLES", "2000"))
MTU = 100  # frames up to 97 bytes: longer than the default 20, multi-frame messages still common


def _framed(message, e2e):
    return frames.split(bytes(message), e2e, MTU - 3)


_raw = st.binary(max_size=MTU - 3).map(lambda b: [b])
_message = st.binary(max_size=300)
_command = st.builds(lambda op, role, counter, params, tag: struct.pack(HEAD, op, role, counter) + params + tag,
                     st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFFFFFF), st.binary(max_size=80),
                     st.binary(min_size=32, max_size=32))
_racp = st.one_of(st.builds(bytes, st.lists(st.integers(0, 8), max_size=3)),
                  st.builds(lambda op, opr, a, b: struct.pack("<BBBII", op, opr, racp.FILTER_SEQ, a, b),
                            st.integers(1, 6), st.integers(0, 7), st.integers(0, 40), st.integers(0, 40)))


def _frames_of(draw_frames):
    return st.tuples(st.integers(0, 255), draw_frames).map(lambda t: t[1] if isinstance(t[1], list) else
                                                           _framed(t[1], t[0]))


EXAMPLE = st.one_of(
    st.tuples(st.just("command"), st.one_of(_raw, _frames_of(_message), _frames_of(_command))),
    st.tuples(st.just("racp"), st.one_of(_raw, _frames_of(_message), _frames_of(_racp))),
)


def _outcome(frame_list, cap):
    """What the pump's reassembler makes of the frames: ("bad",) or ("message", bytes); None if incomplete."""
    r = frames.Reassembler(cap)
    for f in frame_list:
        status = r.feed(f)
        if status == frames.DONE:
            return ("message", bytes(r.buf[: r.n]))
        if status != frames.MORE:
            return ("bad",)
    return None


def _state(bsim):
    p = bsim.sim.pump
    return (p.state_name, p.therapy.to_doc(), p.reservoir.remaining_nl, bsim.counters(), bsim.sim.plant.steps_forward)


async def _racp_answer(phone, log, message):
    """The final RACP answer for a request (None: refused frames), checked against the firmware's own parser on
    the log; records streamed before it are counted."""
    if message is None:
        op, code = 0, racp.RC_BAD_FRAME
    else:
        op, code, first, last = racp.parse(message, len(message), log.first_seq, log.last_seq)
    records, answer = await phone.history_answer()
    if code:
        assert answer == {"request": op, "code": code}, (message, answer)
    elif op == racp.OP_COUNT:
        assert answer == {"count": len(list(log.read(first, last)))}, (message, answer)
    elif op == racp.OP_ABORT:
        assert answer == {"request": op, "code": racp.RC_SUCCESS}
    else:
        expected = len(list(log.read(first, last)))
        assert answer == {"request": op, "code": racp.RC_SUCCESS if expected else racp.RC_NO_RECORDS}
        assert len(records) == expected


def test_fuzzed_frames_over_the_air_are_all_answered_and_change_nothing():
    loop = asyncio.new_event_loop()
    bsim = None
    try:
        async def setup():
            bsim = pump_on_air()
            phone = await connect(bsim)
            await phone.link.exchange_mtu(MTU)
            await pair(phone, bsim)
            return bsim, phone

        bsim, phone = loop.run_until_complete(asyncio.wait_for(setup(), 20))
        before = _state(bsim)
        log = bsim.sim.pump.log
        answered = {"command": 0, "racp": 0}

        async def exchange(point, frame_list):
            if point == "command":
                outcome = _outcome(frame_list, 3072)
                await phone.write_frames(pp.COMMAND_UUID, frame_list)
                answer = pp.decode_response(await phone.message(pp.COMMAND_UUID))
                assert answer["result"] != 0 and answer["result"] in MESSAGES, answer
                if outcome == ("bad",):
                    assert answer["result"] == E_FRAME
            else:
                outcome = _outcome(frame_list, 16)
                await phone.write_frames(pp.RACP_UUID, frame_list)
                await _racp_answer(phone, log, outcome[1] if outcome[0] == "message" else None)
            answered[point] += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(EXAMPLE)
        def one(example):
            point, frame_list = example
            if _outcome(frame_list, 3072 if point == "command" else 16) is None:
                return  # a well-formed first fragment waits for more: not an example of a whole write
            loop.run_until_complete(asyncio.wait_for(exchange(point, frame_list), 5))

        one()
        assert answered["command"] > EXAMPLES // 4 and answered["racp"] > EXAMPLES // 4, answered
        assert _state(bsim) == before
        assert bsim.ble.irq_errors == [] and bsim.ble.op_errors == []

        async def still_serving():  # once any lockout has run out, a real command goes through
            bsim.advance(2 * 3600000)
            return await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND)

        assert loop.run_until_complete(asyncio.wait_for(still_serving(), 10))["result"] == 0
    finally:
        if bsim is not None:
            loop.run_until_complete(bsim.close())
        loop.close()
