"""The secure session over the air, on both boards' stock stacks: what an eavesdropper on a Pico W's link gets (no
plaintext status, alarm or history in any ATT value), a central that opens no session is disconnected, failed
handshakes are counted, logged once per connection and end the link at the third, a monitor session reads but
commands nothing, and a reset pump needs a new handshake."""

import pytest

from pump import events, racp
from pump.errors import E_AUTH, E_INSECURE, E_ROLE, PumpError
from support.blerig import HOUR_MS, KEY, PROFILES, connect, pair, pump_on_air, run, until
from tools.pumplink import proto as pp
from tools.pumplink import session as ps


def _tap(phone):
    """Every ATT PDU the phone receives from now on, as raw bytes (what a sniffer on the link sees)."""
    client = phone.link.connection.gatt_client
    seen = []
    real = client.on_gatt_pdu

    def on_gatt_pdu(pdu):
        seen.append(bytes(pdu))
        real(pdu)

    client.on_gatt_pdu = on_gatt_pdu
    return seen


def _record_plaintext(bsim):
    """Every payload the pump seals, in the clear, as the pump had it."""
    session = bsim.svc.sp.session
    real = session.seal
    clear = []

    def seal(stream, src, n, out):
        clear.append((stream, bytes(src[:n])))
        return real(stream, src, n, out)

    session.seal = seal
    return clear


def _windows(payload, size=8):
    """The payload's 8-byte windows that say something (at least 4 different byte values)."""
    return {payload[i : i + size] for i in range(len(payload) - size + 1) if len(set(payload[i : i + size])) >= 4}


def test_an_eavesdropper_on_a_pico_w_link_finds_no_plaintext_status_alarm_or_history():
    async def body():
        bsim = pump_on_air(profile="rp2-btstack")
        clear = _record_plaintext(bsim)
        phone = await connect(bsim, role=None)
        sniffed = _tap(phone)
        assert await phone.link.read(pp.STATUS_UUID) == b""  # nothing readable before a session
        await phone.open_session(pp.ROLE_CLINICIAN)
        await pair(phone, bsim)
        bsim.advance(HOUR_MS)
        await phone.message(pp.STATUS_UUID)
        assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND))["result"] == 0
        assert (await phone.status())["state_name"] == "suspended"
        records, answer = await phone.history(pp.racp_request(racp.OP_REPORT, racp.OPR_ALL))
        assert answer["code"] == racp.RC_SUCCESS and len(records) >= 3
        await bsim.settle()
        streams = {s for s, _p in clear}
        assert {ps.STREAM_STATUS, ps.STREAM_ALARM, ps.STREAM_HISTORY, ps.STREAM_COMMAND} <= streams
        link = b"".join(sniffed)
        found = [(s, w.hex()) for s, p in clear for w in _windows(p) if w in link]
        assert found == []
        statuses = [p for s, p in clear if s == ps.STREAM_STATUS]
        assert statuses and all(p not in link for p in statuses)
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_central_that_opens_no_session_is_disconnected_at_the_deadline_and_it_is_logged(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim, role=None)
        bsim.advance(4000)
        await bsim.settle()
        assert not phone.link.disconnected.done()
        bsim.advance(1500)  # past SESSION_DEADLINE_MS (5 s) after the connection
        await until(phone.link.disconnected.done, 5)
        log = bsim.sim.pump.log
        failed = [r for r in log.read(log.first_seq, log.last_seq) if r[2] == events.SESSION_FAILED]
        assert [(r[3], r[4]) for r in failed] == [(E_INSECURE, 0)] and bsim.svc.sp.failures == 1
        phone2 = await connect(bsim)  # the pump advertises again: the next central opens its session
        assert (await pair(phone2, bsim))["state_name"] == "running"
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_failed_handshakes_are_counted_logged_once_and_the_third_ends_the_link(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim, role=None)
        with pytest.raises(PumpError) as e:  # the central checks the pump's proof first: a wrong key stops there
            await phone.open_session(pp.ROLE_CLINICIAN, key=bytes(32))
        assert e.value.code == E_AUTH and bsim.svc.sp.failures == 0
        for n in range(1, 4):  # a central that guesses: the pump's proof taken as it is, a wrong proof of its own
            challenge = await phone.exchange(ps.Session(bytes(32), pp.ROLE_CLINICIAN).hello())
            assert challenge[0] == 2
            answer = await phone.exchange(b"\x03" + bytes(16))
            assert answer == bytes((4, E_AUTH & 0xFF, E_AUTH >> 8))
            assert bsim.svc.sp.failures == n
        await until(phone.link.disconnected.done, 5)
        log = bsim.sim.pump.log
        failed = [r for r in log.read(log.first_seq, log.last_seq) if r[2] == events.SESSION_FAILED]
        assert [(r[3], r[4]) for r in failed] == [(E_AUTH, pp.ROLE_CLINICIAN)]  # one record per connection
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_monitor_session_reads_status_and_history_and_commands_nothing(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim, role=ps.ROLE_MONITOR)
        first = await pair(phone, bsim)
        assert first["state_name"] == "running"
        records, answer = await phone.history(pp.racp_request(racp.OP_REPORT, racp.OPR_ALL))
        assert answer["code"] == racp.RC_SUCCESS and records[-1]["code"] == events.SESSION_OPENED
        assert records[-1]["a"] == ps.ROLE_MONITOR
        phone.session.role = pp.ROLE_CLINICIAN  # the phone does not switch: it seals a clinician command anyway
        answer = await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND)
        assert answer["result"] == E_ROLE and bsim.sim.pump.state_name == "running"
        await bsim.close()

    run(body)


def test_without_keys_no_session_opens_and_only_the_plain_characteristics_read():
    async def body():
        bsim = pump_on_air(keys=None, profile="rp2-btstack")
        phone = await connect(bsim, role=None)
        with pytest.raises(PumpError) as e:
            await phone.open_session(ps.ROLE_MONITOR, key=KEY[ps.ROLE_MONITOR])
        assert e.value.code == 504
        assert await phone.link.read(pp.STATUS_UUID) == b""
        assert await phone.link.read(0x2A29) == b"pump prototype"
        assert pp.decode_features(pp.Reassembler.unframe(await phone.link.read(pp.FEATURES_UUID)))["keys"] is False
        await bsim.close()

    run(body)
