"""The firmware's BLE service end to end: a scenario pump (board/sim + pump.controller.Pump) serving
lib/pump/bleservice.py through the Bumble shim, a Bumble central as the phone, real ATT/SMP over the in-process link,
on both boards' stock stacks (rp2-btstack: the secure session alone; esp32-nimble: the session over a passkey bond).
"""

import asyncio

import pytest
from bumble import att

from pump import racp
from pump.errors import E_AUTH, E_INSECURE, E_LOCKOUT, E_REPLAY, E_ROLE
from support.blerig import HOUR_MS, KEY, PROFILES, SCENARIO, connect, pair, pump_on_air, refused, run
from tools.blehost.central import IO_DISPLAY_YES_NO, Central
from tools.blehost.uuids import UUID
from tools.pumplink import proto as pp
from tools.pumplink import session as ps


@pytest.mark.parametrize("profile", PROFILES)
def test_scan_connect_discover_device_information_battery_and_pump_service(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        central = await Central().start()
        advert = await central.scan(name=bsim.name)
        assert advert.connectable and bsim.name == "PUMP-" + bsim.sim.hw.uid_hex[-4:].upper()
        phone = await connect(bsim, central)
        services = await phone.link.discover()
        pump_service = services[UUID(pp.SERVICE_UUID)]
        assert [UUID(u) for u in (pp.STATUS_UUID, pp.ALARM_UUID, pp.RACP_UUID, pp.HISTORY_UUID,
                                  pp.COMMAND_UUID, pp.FEATURES_UUID, ps.SESSION_UUID)] == pump_service
        link = phone.link
        assert await link.read(0x2A29) == b"pump prototype"  # Device Information: manufacturer
        assert await link.read(0x2A25) == bsim.sim.hw.uid_hex.encode()  # serial number
        assert await link.read(0x2A00) == bsim.name.encode()  # GAP name
        assert await link.read(0x2A19) == bytes([100])  # Battery Level of a full simulated battery
        features = pp.decode_features(pp.Reassembler.unframe(await link.read(pp.FEATURES_UUID)))
        assert features["keys"] and features["nl_per_step"] == 200
        await bsim.close()

    run(body)


def test_unbonded_reads_are_refused_and_just_works_reads_but_may_not_command():
    async def body():
        bsim = pump_on_air()
        phone = await connect(bsim)
        link = phone.link
        assert await link.security_requests.get()  # the pump asks to pair as soon as the phone connects
        assert await refused(link.read(pp.STATUS_UUID)) == att.ATT_INSUFFICIENT_ENCRYPTION_ERROR
        assert await refused(link.read(pp.ALARM_UUID)) == att.ATT_INSUFFICIENT_ENCRYPTION_ERROR
        assert await refused(link.write(pp.RACP_UUID, b"\x01\x01")) == att.ATT_INSUFFICIENT_ENCRYPTION_ERROR
        frames = pp.encode_command(KEY[pp.ROLE_CLINICIAN], pp.ROLE_CLINICIAN, 1, pp.OP_SUSPEND, b"")
        assert await refused(link.write(pp.COMMAND_UUID, frames[0])) == att.ATT_INSUFFICIENT_ENCRYPTION_ERROR

        await link.pair()  # Just Works: encrypted, not MITM-protected
        status = await phone.status()
        assert status["state_name"] == "running" and status["rate_nl_per_day"] == 500000
        assert await refused(link.write(pp.COMMAND_UUID, frames[0])) == att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR
        await bsim.settle()
        assert bsim.svc.encrypted and not bsim.svc.authenticated
        assert bsim.sim.pump.state_name == "running" and bsim.counters() == (0, 0)
        await bsim.close()

    run(body)


def test_numeric_comparison_is_not_offered_by_a_pump_with_a_display_only():
    """A phone that can only compare numbers gets Just Works from this pump (display only): still no commands."""

    async def body():
        bsim = pump_on_air()
        phone = await connect(bsim)
        await phone.link.pair(mitm=True, io=IO_DISPLAY_YES_NO)
        await bsim.settle()
        assert phone.link.delegate.shown == [] and _passkeys(bsim) == 0
        assert bsim.svc.encrypted and not bsim.svc.authenticated
        frames = pp.encode_command(KEY[pp.ROLE_CLINICIAN], pp.ROLE_CLINICIAN, 1, pp.OP_SUSPEND, b"")
        assert await refused(phone.link.write(pp.COMMAND_UUID, frames[0])) == (
            att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR)
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_passkey_pairing_then_status_notifications_follow_the_steps(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim)
        first = await pair(phone, bsim)
        assert bsim.svc.authenticated == bsim.ble.pairing and first["today_nl"] == 0
        bsim.advance(HOUR_MS)
        later = pp.decode_status(await phone.message(pp.STATUS_UUID))
        steps = bsim.sim.plant.steps_forward
        assert steps > 0 and later["today_nl"] == steps * 200
        assert later["reservoir_nl"] == 20000000 - steps * 200
        assert (await phone.status())["today_nl"] == later["today_nl"]  # the readable value follows too
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_program_therapy_and_patient_bolus_and_its_lockout(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim)
        await pair(phone, bsim)
        prescription = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
                        "therapy": {"mode": "constant", "dose_ug_per_day": 4000}, "patient_bolus": SCENARIO[
                            "patient_bolus"]}
        answer = await phone.send(pp.ROLE_CLINICIAN, pp.OP_PROGRAM, pp.program_payload(prescription))
        assert (answer["command"], answer["result"], answer["counter"]) == ("program", 0, 1)
        assert bsim.sim.pump.therapy.to_doc()["therapy"]["dose_ug_per_day"] == 4000
        status = pp.decode_status(await phone.message(pp.STATUS_UUID))
        assert status["rate_nl_per_day"] == 400000  # 4 mg/day at 10 mg/mL

        await phone.open_session(pp.ROLE_PATIENT)  # the patient's app: its own session
        assert pp.decode_status(await phone.message(pp.STATUS_UUID))["rate_nl_per_day"] == 400000  # sent afresh
        answer = await phone.send(pp.ROLE_PATIENT, pp.OP_PATIENT_BOLUS)
        assert answer["result"] == 0 and answer["counter"] == 1
        status = pp.decode_status(await phone.message(pp.STATUS_UUID))
        assert status["rate_nl_per_day"] > 400000  # the bolus runs on top of the basal rate
        answer = await phone.send(pp.ROLE_PATIENT, pp.OP_PATIENT_BOLUS)
        assert answer["result"] == E_LOCKOUT and answer["counter"] == 2  # refused, its counter used up
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_replayed_forged_and_wrong_role_commands_are_refused_and_change_nothing(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim)
        await pair(phone, bsim)
        assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND))["result"] == 0
        assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_RESUME))["result"] == 0
        before = (bsim.sim.pump.state_name, bsim.sim.pump.therapy.to_doc(), bsim.counters())

        replay = await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND, counter=1)
        assert (replay["result"], replay["counter"]) == (E_REPLAY, 2)

        def flip_tag(message):  # one bit of the HMAC
            return message[:-1] + bytes([message[-1] ^ 1])

        forged = await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND, tamper=flip_tag)
        assert forged["result"] == E_AUTH
        wrong_key = await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND, key=KEY[pp.ROLE_PATIENT])
        assert wrong_key["result"] == E_AUTH
        wrong_role = await phone.send(pp.ROLE_PATIENT, pp.OP_SUSPEND)  # a patient may not suspend
        assert wrong_role["result"] == E_ROLE
        assert (bsim.sim.pump.state_name, bsim.sim.pump.therapy.to_doc()) == before[:2]
        assert bsim.counters() == before[2]  # no refused command moved a counter
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_disconnect_and_reconnect_with_the_bond_and_after_a_pump_reset(profile):
    async def body():
        doc = dict(SCENARIO, events=[{"at_h": 2, "type": "reset"}])
        bsim = pump_on_air(doc, profile=profile)
        central = await Central().start()
        phone = await connect(bsim, central)
        await pair(phone, bsim)
        assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND))["result"] == 0
        await phone.link.disconnect()

        await bsim.settle()
        assert not bsim.sp_open()  # the session closed with the link

        phone2 = await connect(bsim, central, role=None)  # the same phone: its bond, no pairing
        if bsim.ble.pairing:
            await phone2.link.encrypt()
            await bsim.settle()
            assert bsim.svc.authenticated and _passkeys(bsim) == 1  # MITM level restored with the bond
        refused_before = await phone2.send(pp.ROLE_CLINICIAN, pp.OP_RESUME, counter=99)
        assert refused_before["result"] == E_INSECURE  # the old session's keys are gone: a new handshake first
        await phone2.open_session(pp.ROLE_CLINICIAN)
        phone2.counter = dict(phone.counter)
        assert (await phone2.send(pp.ROLE_CLINICIAN, pp.OP_RESUME))["result"] == 0

        bsim.advance(3 * HOUR_MS)  # the scenario resets the pump: its BLE stack restarts, the link drops
        await asyncio.wait_for(phone2.link.disconnected, 2)
        assert bsim.boots == 2
        phone3 = await connect(bsim, central, role=None)
        if bsim.ble.pairing:
            await phone3.link.encrypt()  # bond and counters came back from the pump's storage
            await bsim.settle()
            assert bsim.svc.authenticated and _passkeys(bsim) == 1
        await phone3.open_session(pp.ROLE_CLINICIAN)  # the reset pump knows no session: a new handshake
        replay = await phone3.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND, counter=2)
        assert (replay["result"], replay["counter"]) == (E_REPLAY, 2)
        await bsim.close()

    run(body)


@pytest.mark.parametrize("profile", PROFILES)
def test_history_by_sequence_range(profile):
    async def body():
        bsim = pump_on_air(profile=profile)
        phone = await connect(bsim)
        await pair(phone, bsim)
        for _ in range(3):
            assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_SUSPEND))["result"] == 0
            assert (await phone.send(pp.ROLE_CLINICIAN, pp.OP_RESUME))["result"] == 0
        log = bsim.sim.pump.log
        first, last = log.first_seq, log.last_seq
        assert last - first >= 6
        _none, count = await phone.history(pp.racp_request(racp.OP_COUNT, racp.OPR_ALL))
        assert count == {"count": last - first + 1}
        lo, hi = first + 2, last - 1
        records, answer = await phone.history(pp.racp_request(racp.OP_REPORT, racp.OPR_RANGE, lo, hi))
        assert answer == {"request": racp.OP_REPORT, "code": racp.RC_SUCCESS}
        assert [r["seq"] for r in records] == list(range(lo, hi + 1))
        expected = list(log.read(lo, hi))
        assert [(r["seq"], r["t_s"], r["code"], r["a"], r["b"]) for r in records] == [tuple(e) for e in expected]
        records, answer = await phone.history(pp.racp_request(racp.OP_REPORT, racp.OPR_GE, last + 10))
        assert (records, answer["code"]) == ([], racp.RC_NO_RECORDS)
        _none, answer = await phone.history(bytes([racp.OP_DELETE, racp.OPR_ALL]))  # the log is never deleted
        assert answer["code"] == racp.RC_OP_NOT_SUPPORTED and log.last_seq >= last
        await bsim.close()

    run(body)


def _passkeys(bsim):
    return len([t for t in bsim.printed if t.startswith("BLE pairing passkey")])
