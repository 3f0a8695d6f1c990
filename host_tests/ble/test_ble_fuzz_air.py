"""Fuzz over the air: frames written to the pump's command and history (RACP) points through the whole stack (ATT
writes, the shim, the service's reassembly, the secure session, authentication, the RACP parser), on both boards'
stock stacks. Half of the whole messages go sealed in the phone's open session (so they reach the command's MAC and
the RACP parser), the rest as they are (refused by the session). Every example is answered with a code (malformed
frames with theirs), nothing crashes, and the pump's state does not move.

Fewer examples than the fuzz on the fake radio, as each one is a real ATT exchange: BLE_FUZZ_EXAMPLES (2000 per
stack profile).
"""

import asyncio
import os
import struct

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pump import frames, racp
from pump.cmdauth import HEAD
from pump.errors import E_FRAME, MESSAGES
from pump.seal import OVERHEAD
from support.blerig import PROFILES, connect, pair, pump_on_air
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


EXAMPLE = st.tuples(st.one_of(
    st.tuples(st.just("command"), st.one_of(_raw, _frames_of(_message), _frames_of(_command))),
    st.tuples(st.just("racp"), st.one_of(_raw, _frames_of(_message), _frames_of(_racp))),
), st.booleans())
CAP = {"command": 3072 + OVERHEAD, "racp": 16 + OVERHEAD}  # the pump's reassemblers
UUID = {"command": pp.COMMAND_UUID, "racp": pp.RACP_UUID}


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


async def _racp_answer(phone, log, message, sealed):
    """The final RACP answer for a request (None: refused frames), checked against the firmware's own parser on
    the log; records streamed before it are counted."""
    if message is None:
        op, code = 0, racp.RC_BAD_FRAME
    elif not sealed:
        op, code = 0, racp.RC_INSECURE
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


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzzed_frames_over_the_air_are_all_answered_and_change_nothing(profile):
    loop = asyncio.new_event_loop()
    bsim = None
    try:
        async def setup():
            bsim = pump_on_air(profile=profile)
            phone = await connect(bsim)
            await phone.link.exchange_mtu(MTU)
            await pair(phone, bsim)
            return bsim, phone

        bsim, phone = loop.run_until_complete(asyncio.wait_for(setup(), 20))
        before = _state(bsim)
        log = bsim.sim.pump.log
        answered = {"command": 0, "racp": 0, "sealed": 0}

        async def exchange(point, frame_list, plain):
            """`plain`: the message sealed in these frames, None when they carry no sealed message."""
            sealed = plain is not None
            outcome = _outcome(frame_list, CAP[point])
            await phone.write_frames(UUID[point], frame_list)
            if point == "command":
                answer = pp.decode_response(phone.answer(pp.COMMAND_UUID, await phone.message(pp.COMMAND_UUID,
                                                                                               plain=True)))
                assert answer["result"] != 0 and answer["result"] in MESSAGES, answer
                if outcome == ("bad",):
                    assert answer["result"] == E_FRAME
            else:
                message = None
                if outcome[0] == "message":
                    message = plain if sealed else outcome[1]
                await _racp_answer(phone, log, message, sealed)
            answered[point] += 1
            answered["sealed"] += sealed

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(EXAMPLE)
        def one(example):
            (point, frame_list), seal = example
            outcome = _outcome(frame_list, CAP[point])
            if outcome is None:
                return  # a well-formed first fragment waits for more: not an example of a whole write
            plain = None
            if seal and outcome[0] == "message":  # the same message sealed in the phone's session
                frame_list = phone.sealed_frames(UUID[point], outcome[1], frame_list[0][1])
                if _outcome(frame_list, CAP[point])[0] == "message":
                    plain = outcome[1]  # else too long for the pump's buffer once sealed: refused as frames
            loop.run_until_complete(asyncio.wait_for(exchange(point, frame_list, plain), 5))

        one()
        assert answered["command"] > EXAMPLES // 4 and answered["racp"] > EXAMPLES // 4, answered
        assert answered["sealed"] > EXAMPLES // 5, answered
        print("%s: %d examples over the air, %d sealed" % (profile, answered["command"] + answered["racp"],
                                                          answered["sealed"]))
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
