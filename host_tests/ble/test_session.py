"""The secure session (pump.session, pump.seal): the handshake for each role, mutual proof of the role's key, fresh
pump nonces, every refusal with its code and nothing changed, sealed messages refused when forged, replayed,
reordered, reflected or misdirected, counters per stream, commands sealed and bound to the session's role."""

from support.aes import new_ecb
from pump import session as ss
from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, ROLE_PATIENT
from pump.commands import OP_PATIENT_BOLUS, OP_SUSPEND, roles_for
from pump.errors import E_AUTH, E_INSECURE, E_MALFORMED, E_NO_KEYS, E_REPLAY, E_ROLE, E_STATE, PumpError
from pump.seal import (HEAD_LEN, MAX_SEQ, OVERHEAD, STREAM_ALARM, STREAM_COMMAND, STREAM_HISTORY, STREAM_RACP,
                       STREAM_STATUS, TAG_LEN)
from support.keys import KC, KM, KP, Auth, command, key_doc
from support.session import PUMP_ID, Nonces, Pair
from support import raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

def _state(s):
    """What a refusal must leave as it was: the handshake state, the role, both directions' counters."""
    return (s.state, s.role, s._pending is not None, list(s.rx.seqs) if s.rx else None,
            list(s.tx.seqs) if s.tx else None)


def test_each_role_opens_a_session_and_both_ends_agree_on_its_keys():
    for role in (ROLE_CLINICIAN, ROLE_PATIENT, ROLE_MONITOR):
        p = Pair(role)
        hello = p.central.hello(p.nonce_c)
        assert hello == bytes((1, 1, role)) + p.nonce_c and len(hello) == ss.HELLO_LEN
        challenge = p.ask(hello)
        assert challenge[:3] == bytes((2, 1, role)) and challenge[3:19] == p.nonces.given[-1]
        assert challenge[19] == len(PUMP_ID) and challenge[20:28] == PUMP_ID and len(challenge) == 36 + len(PUMP_ID)
        assert p.pump.state == ss.CHALLENGED
        confirm = p.central.confirm(challenge)
        assert confirm[0] == 3 and len(confirm) == ss.CONFIRM_LEN
        assert p.ask(confirm) == b"\x04\x00\x00"
        p.central.established(b"\x04\x00\x00")
        assert p.pump.state == ss.OPEN and p.pump.role == role and p.central.pump_id == PUMP_ID
        assert p.central.open(STREAM_STATUS, p.to_central(STREAM_STATUS, b"status bytes")) == b"status bytes"
        assert p.to_pump(STREAM_RACP, p.central.seal(STREAM_RACP, b"\x04\x01")) == (0, b"\x04\x01")


def test_the_keys_are_those_of_the_documented_derivation():
    p = Pair(ROLE_PATIENT).open()
    from pump.hmac import Hmac, hkdf_expand

    prk = Hmac(KP).digest(b"pump-session-v1" + p.nonce_c + p.nonces.given[-1])
    okm = hkdf_expand(prk, bytes((ROLE_PATIENT,)) + PUMP_ID, 128)
    assert ss.derive(Hmac(KP), ROLE_PATIENT, p.nonce_c, p.nonces.given[-1], PUMP_ID) == okm
    assert p.central._okm == okm
    assert p.pump.handshake(b"", 0) == b"\x04" + bytes((E_MALFORMED & 0xFF, E_MALFORMED >> 8))


def test_each_handshake_takes_a_fresh_pump_nonce_and_gives_new_keys():
    p = Pair().open()
    first = p.to_central(STREAM_STATUS, b"same")
    p.open()  # the same central nonce again
    assert len(p.nonces.given) == 2 and p.nonces.given[0] != p.nonces.given[1]
    second = p.to_central(STREAM_STATUS, b"same")
    assert first[:HEAD_LEN] == second[:HEAD_LEN] and first[HEAD_LEN:] != second[HEAD_LEN:]


def test_a_recorded_confirm_replayed_to_a_new_challenge_is_refused():
    p = Pair()
    hello = p.central.hello(p.nonce_c)
    confirm = p.central.confirm(p.ask(hello))
    assert p.ask(confirm) == ss.result(0)
    p.ask(hello)  # an eavesdropper replays the central's HELLO, then its CONFIRM
    assert p.ask(confirm) == ss.result(E_AUTH)
    assert p.pump.state == ss.IDLE and p.pump.role == 0
    assert p.pump.seal(STREAM_STATUS, b"x", 1, bytearray(32)) == 0


def test_a_central_without_the_roles_key_gets_no_session():
    p = Pair(ROLE_MONITOR, key=KC)  # the clinician's key offered as the monitor's
    challenge = p.ask(p.central.hello(p.nonce_c))
    with raises(PumpError) as e:
        p.central.confirm(challenge)  # the central sees the pump's proof fail: it is not this key
    assert e.value.code == E_AUTH
    guesses = (b"\x03" + bytes(16), b"\x03" + challenge[-16:], b"\x03" + p.central._key.digest(b"any")[:16])
    for guess in guesses:  # a proof made without the key: zeros, the pump's own proof reflected, anything
        p.ask(p.central.hello(p.nonce_c))
        assert p.ask(guess) == ss.result(E_AUTH)
        assert p.pump.state == ss.IDLE


def test_a_pump_without_the_key_or_with_another_id_is_refused_by_the_central():
    doc = key_doc()
    doc["monitor"] = "".join("%02x" % b for b in bytes(range(1, 33)))
    p = Pair(ROLE_MONITOR, doc=doc)
    with raises(PumpError) as e:
        p.central.confirm(p.ask(p.central.hello(p.nonce_c)))
    assert (e.value.code, e.value.detail) == (E_AUTH, "pump proof")
    p = Pair(ROLE_MONITOR, expect_id=b"\x01\x02\x03\x04\x05\x06")
    with raises(PumpError) as e:
        p.central.confirm(p.ask(p.central.hello(p.nonce_c)))
    assert (e.value.code, e.value.detail) == (E_AUTH, "challenge from another pump")
    assert Pair(ROLE_MONITOR, expect_id=PUMP_ID).open().central.state == ss.OPEN


def test_a_refused_hello_says_why_and_leaves_an_open_session_as_it_was():
    p = Pair().open()
    p.to_central(STREAM_STATUS, b"1")
    p.to_pump(STREAM_RACP, p.central.seal(STREAM_RACP, b"r"))
    before = _state(p.pump)
    good = Pair().central.hello(p.nonce_c)
    cases = (
        (good[:-1], E_MALFORMED), (good + b"\x00", E_MALFORMED), (b"\x01\x02" + good[2:], E_MALFORMED),
        (b"\x01\x01\x00" + good[3:], E_MALFORMED), (b"\x01\x01\x04" + good[3:], E_MALFORMED),
        (b"\x01\x01\xff" + good[3:], E_MALFORMED), (b"\x02" + good[1:], E_MALFORMED), (b"\x00", E_MALFORMED),
        (b"\x03" + bytes(16), E_STATE),  # a CONFIRM with no handshake running
    )
    for msg, code in cases:
        assert p.ask(msg) == ss.result(code), msg
        assert _state(p.pump) == before
    assert p.central.open(STREAM_STATUS, p.to_central(STREAM_STATUS, b"2")) == b"2"  # the session works on
    assert len(p.nonces.given) == 1  # no refused HELLO took a nonce
    p.ask(good)  # a valid HELLO ends the session before it
    assert p.pump.state == ss.CHALLENGED and p.pump.tx is None and p.pump.role == 0


def test_a_hello_for_a_role_without_a_key_is_refused_with_no_keys():
    p = Pair(ROLE_MONITOR, doc=key_doc(monitor=False))
    assert p.ask(p.central.hello(p.nonce_c)) == ss.result(E_NO_KEYS)
    with raises(PumpError) as e:
        p.central.confirm(ss.result(E_NO_KEYS))
    assert e.value.code == E_NO_KEYS
    pump = ss.PumpSession(None, PUMP_ID, Nonces(), new_ecb)
    hello = Pair().central.hello(bytes(16))
    assert pump.handshake(hello, len(hello)) == ss.result(E_NO_KEYS) and pump.state == ss.IDLE


def test_one_confirm_per_challenge():
    p = Pair()
    confirm = p.central.confirm(p.ask(p.central.hello(p.nonce_c)))
    wrong = bytearray(confirm)
    wrong[5] ^= 0x20
    assert p.ask(wrong) == ss.result(E_AUTH)
    assert p.ask(confirm) == ss.result(E_STATE)  # the right proof, too late: the challenge is spent
    assert p.pump.state == ss.IDLE
    confirm = p.central.confirm(p.ask(p.central.hello(p.nonce_c)))
    assert p.ask(confirm + b"\x00") == ss.result(E_AUTH) and p.ask(confirm) == ss.result(E_STATE)


def test_the_central_refuses_malformed_answers_and_steps_out_of_order():
    p = Pair()
    with raises(PumpError) as e:
        p.central.confirm(b"\x02" + bytes(40))
    assert e.value.code == E_STATE  # no HELLO yet
    challenge = p.ask(p.central.hello(p.nonce_c))
    for bad in (challenge[:-1], challenge + b"\x00", b"\x05" + challenge[1:], challenge[:2] + b"\x02" + challenge[3:],
                challenge[:19] + b"\x00" + challenge[20:], challenge[:19] + b"\x11" + challenge[20:], b""):
        with raises(PumpError) as e:
            p.central.confirm(bad)
        assert e.value.code == E_MALFORMED, bad
    with raises(PumpError) as e:
        p.central.established(ss.result(0))
    assert e.value.code == E_STATE  # no CONFIRM sent
    result = p.ask(p.central.confirm(challenge))
    for bad in (b"\x04\x00", b"\x05\x00\x00", result + b"\x00"):
        with raises(PumpError) as e:
            p.central.established(bad)
        assert e.value.code == E_MALFORMED
    with raises(PumpError) as e:
        p.central.established(ss.result(E_AUTH))
    assert e.value.code == E_AUTH
    with raises(PumpError) as e:
        p.central.seal(STREAM_RACP, b"x")
    assert e.value.code == E_INSECURE
    p.central.established(result)
    assert p.central.state == ss.OPEN


def test_nothing_is_sealed_or_opened_without_a_session():
    p = Pair()
    out = bytearray(64)
    assert p.pump.seal(STREAM_STATUS, b"abc", 3, out) == 0 and out == bytearray(64)
    assert p.to_pump(STREAM_RACP, bytes(30)) == (E_INSECURE, b"")
    p.open()
    sealed = p.central.seal(STREAM_RACP, b"r")
    p.pump.close()  # a disconnect
    assert p.to_pump(STREAM_RACP, sealed)[0] == E_INSECURE
    assert p.pump.seal(STREAM_STATUS, b"abc", 3, out) == 0


def test_a_sealed_message_shows_no_payload_and_never_repeats_its_keystream():
    p = Pair().open()
    payload = b"morphine 10000 ug/mL, 4000 ug/day"
    a = p.to_central(STREAM_STATUS, payload)
    b = p.to_central(STREAM_STATUS, payload)
    c = p.to_central(STREAM_HISTORY, payload)
    assert len(a) == len(payload) + OVERHEAD
    assert a[0] == STREAM_STATUS and a[1:5] == b"\x01\x00\x00\x00" and b[1:5] == b"\x02\x00\x00\x00"
    assert c[:5] == b"\x05\x01\x00\x00\x00"
    for sealed in (a, b, c):
        body = sealed[HEAD_LEN:-TAG_LEN]
        assert payload[:8] not in sealed and sum(1 for i in range(len(payload)) if body[i] == payload[i]) < 6
    assert a[HEAD_LEN:-TAG_LEN] != b[HEAD_LEN:-TAG_LEN] != c[HEAD_LEN:-TAG_LEN]


def test_forged_replayed_reordered_and_misdirected_messages_are_refused_and_change_nothing():
    p = Pair().open()
    sealed = [p.central.seal(STREAM_RACP, bytes((i,)) * 3) for i in range(4)]
    assert p.to_pump(STREAM_RACP, sealed[1]) == (0, b"\x01\x01\x01")  # a lost message is a gap, not an error
    p.pump.tx.seqs[STREAM_RACP] = 9
    reflected = p.to_central(STREAM_RACP, b"\x02\x02\x02")
    before = _state(p.pump)
    cases = [(sealed[1], E_REPLAY), (sealed[0], E_REPLAY)]  # replayed; reordered (older after newer)
    good = sealed[2]
    for i in range(len(good)):  # every single-bit change anywhere
        bad = bytearray(good)
        bad[i] ^= 0x04
        cases.append((bytes(bad), E_MALFORMED if i == 0 else E_AUTH))
    cases += [
        (good[:-1], E_AUTH), (good[: OVERHEAD - 1], E_MALFORMED), (b"", E_MALFORMED),
        (good[:4] + b"\x40" + good[5:], E_MALFORMED),  # a counter of 2**30 and above never comes
        (reflected, E_AUTH),  # the pump's own message sent back to it
    ]
    for msg, code in cases:
        buf = bytearray(msg)
        assert p.pump.open(STREAM_RACP, buf, len(buf)) == code, (msg, code)
        assert buf == bytearray(msg)  # nothing decrypted in place either
        assert _state(p.pump)[3] == before[3]
    assert p.to_pump(STREAM_COMMAND, good)[0] == E_MALFORMED  # written to another characteristic than sealed for
    assert p.to_pump(0, good)[0] == E_MALFORMED and p.to_pump(8, good)[0] == E_MALFORMED
    assert p.to_pump(STREAM_RACP, good) == (0, b"\x02\x02\x02")
    assert p.to_pump(STREAM_RACP, sealed[3]) == (0, b"\x03\x03\x03")


def test_streams_count_on_their_own_so_interleaved_characteristics_complete_in_any_order():
    p = Pair().open()
    alarm = p.to_central(STREAM_ALARM, b"alarm")
    s1, s2, s3 = (p.to_central(STREAM_STATUS, bytes((i,))) for i in (1, 2, 3))
    assert p.central.open(STREAM_STATUS, s1) == b"\x01"
    assert p.central.open(STREAM_STATUS, s3) == b"\x03"
    assert p.central.open(STREAM_ALARM, alarm) == b"alarm"  # sealed first, completed last
    with raises(PumpError) as e:
        p.central.open(STREAM_STATUS, s2)  # within a stream, order holds
    assert e.value.code == E_REPLAY
    with raises(PumpError) as e:
        p.central.open(STREAM_HISTORY, s3)
    assert e.value.code == E_MALFORMED


def test_a_used_up_counter_stops_sealing_until_a_new_session():
    p = Pair().open()
    p.pump.tx.seqs[STREAM_STATUS] = MAX_SEQ - 1
    last = p.to_central(STREAM_STATUS, b"x")
    assert last[1:5] == b"\xff\xff\xff\x3f"
    assert p.central.open(STREAM_STATUS, last) == b"x"
    assert p.pump.seal(STREAM_STATUS, b"x", 1, bytearray(32)) == 0
    assert p.pump.tx.seqs[STREAM_STATUS] == MAX_SEQ
    p.central.tx.seqs[STREAM_RACP] = MAX_SEQ
    with raises(PumpError) as e:
        p.central.seal(STREAM_RACP, b"r")
    assert e.value.code == E_INSECURE
    p.open()
    assert p.central.open(STREAM_STATUS, p.to_central(STREAM_STATUS, b"y")) == b"y"


def test_commands_travel_sealed_and_only_in_a_session_of_their_own_role():
    a = Auth()
    suspend = command(KC, ROLE_CLINICIAN, 1, OP_SUSPEND)
    p = Pair(ROLE_CLINICIAN).open()
    sealed = p.central.seal(STREAM_COMMAND, suspend)
    buf = bytearray(sealed)
    assert p.pump.open_command(buf, len(buf)) == 0 and bytes(buf[: p.pump.n]) == suspend
    assert a.verify(buf[: p.pump.n]) == 0  # then pump.cmdauth checks its MAC and counter as before
    buf = bytearray(sealed)
    assert p.pump.open_command(buf, len(buf)) == E_REPLAY  # the session's counter refuses it first
    p.open()  # a new session: the command sealed again opens, and cmdauth's own counter refuses it
    buf = bytearray(p.central.seal(STREAM_COMMAND, suspend))
    assert p.pump.open_command(buf, len(buf)) == 0 and a.verify(buf[: p.pump.n]) == E_REPLAY
    bolus = command(KP, ROLE_PATIENT, 1, OP_PATIENT_BOLUS)
    buf = bytearray(p.central.seal(STREAM_COMMAND, bolus))  # a patient command in a clinician session
    assert p.pump.open_command(buf, len(buf)) == E_ROLE
    q = Pair(ROLE_PATIENT).open()
    buf = bytearray(q.central.seal(STREAM_COMMAND, command(KC, ROLE_CLINICIAN, 2, OP_SUSPEND)))
    assert q.pump.open_command(buf, len(buf)) == E_ROLE
    buf = bytearray(q.central.seal(STREAM_COMMAND, bolus))
    assert q.pump.open_command(buf, len(buf)) == 0 and a.verify(buf[: q.pump.n]) == 0
    buf = bytearray(q.central.seal(STREAM_COMMAND, b"\x05"))  # too short to name a role
    assert q.pump.open_command(buf, len(buf)) == E_ROLE
    m = Pair(ROLE_MONITOR).open()
    before = _state(m.pump)
    buf = bytearray(m.central.seal(STREAM_COMMAND, command(KM, ROLE_MONITOR, 1, OP_SUSPEND)))
    assert m.pump.open_command(buf, len(buf)) == E_ROLE and _state(m.pump) == before  # a monitor commands nothing
    assert Pair().pump.open_command(bytearray(40), 40) == E_INSECURE
    assert roles_for(OP_SUSPEND) & (1 << ROLE_MONITOR) == 0


def test_the_pump_id_has_one_to_sixteen_bytes():
    for bad in (b"", bytes(17)):
        with raises(ValueError) as e:
            ss.PumpSession(None, bad, Nonces(), new_ecb)
        assert str(e.value) == "pump id: 1 to 16 bytes"
    for role in (0, 4):
        with raises(ValueError) as e:
            ss.CentralSession(KC, role, new_ecb)
        assert str(e.value) == "role: 1 clinician, 2 patient or 3 monitor"
    with raises(ValueError) as e:
        ss.CentralSession(KC, ROLE_CLINICIAN, new_ecb).hello(bytes(15))
    assert str(e.value) == "nonce: 16 bytes"
    assert Pair(pump_id=bytes(16)).open().pump.state == ss.OPEN
    assert Pair(pump_id=b"\x07").open().central.pump_id == b"\x07"


def test_the_central_says_why_it_refuses():
    c = ss.CentralSession(KC, ROLE_CLINICIAN, new_ecb)
    assert c.pump_id is None and c.state == ss.IDLE
    for call, args, code, detail in (
        (c.open, (STREAM_STATUS, bytes(30)), E_INSECURE, "no session"),
        (c.seal, (STREAM_RACP, b"r"), E_INSECURE, "no session"),
        (c.confirm, (bytes(44),), E_STATE, "no HELLO sent"),
        (c.established, (ss.result(0),), E_STATE, "no CONFIRM sent"),
    ):
        with raises(PumpError) as e:
            call(*args)
        assert (e.value.code, e.value.detail) == (code, detail), call
    p = Pair().open()
    with raises(PumpError) as e:
        p.central.open(STREAM_STATUS, bytes(30))
    assert (e.value.code, e.value.detail) == (E_MALFORMED, "sealed message")
    p.central.tx.seqs[STREAM_RACP] = MAX_SEQ
    with raises(PumpError) as e:
        p.central.seal(STREAM_RACP, b"r")
    assert e.value.detail == "counter used up: start a new session"
    challenge = Pair().ask(p.central.hello(p.nonce_c))
    for bad, detail in ((challenge[:19], "challenge"), (challenge[:19] + b"\x00" + challenge[-16:], "challenge")):
        with raises(PumpError) as e:  # 19 bytes: no id length at all; an empty id in a 36-byte challenge
            p.central.confirm(bad)
        assert (e.value.code, e.value.detail) == (E_MALFORMED, detail)
    with raises(PumpError) as e:
        p.central.confirm(ss.result(E_AUTH))
    assert (e.value.code, e.value.detail) == (E_AUTH, "refused by the pump")
    p.central.confirm(challenge)
    with raises(PumpError) as e:
        p.central.established(b"\x04\x00")
    assert (e.value.code, e.value.detail) == (E_MALFORMED, "result")


def test_every_stream_id_from_1_to_7_works_and_no_other():
    p = Pair().open()
    for stream in range(1, 8):
        assert p.central.open(stream, p.to_central(stream, b"s")) == b"s"
        assert p.to_pump(stream, p.central.seal(stream, b"t")) == (0, b"t")
    for stream in (0, 8, 255):  # a message that names such a stream is refused as malformed, not looked up
        msg = bytearray(p.central.seal(STREAM_RACP, b"u"))
        msg[0] = stream
        assert p.to_pump(stream, bytes(msg))[0] == E_MALFORMED


def test_an_empty_payload_and_counters_in_all_four_bytes():
    p = Pair().open()
    empty = p.to_central(STREAM_ALARM, b"")
    assert len(empty) == OVERHEAD and p.central.open(STREAM_ALARM, empty) == b""
    buf = bytearray(p.central.seal(STREAM_RACP, b""))
    assert p.pump.open(STREAM_RACP, buf, OVERHEAD) == 0 and p.pump.n == 0
    p.pump.tx.seqs[STREAM_STATUS] = 0x3F020304 - 1
    sealed = p.to_central(STREAM_STATUS, b"high")
    assert sealed[1:5] == bytes((0x04, 0x03, 0x02, 0x3F))  # little-endian, every byte in use
    assert p.central.open(STREAM_STATUS, sealed) == b"high" and p.central.rx.seqs[STREAM_STATUS] == 0x3F020304
    p.central.tx.seqs[STREAM_RACP] = 0x10FF7F80
    buf = bytearray(p.central.seal(STREAM_RACP, b"x"))
    assert p.pump.open(STREAM_RACP, buf, len(buf)) == 0 and p.pump.rx.seqs[STREAM_RACP] == 0x10FF7F81


def test_a_length_beyond_the_buffer_is_refused():
    p = Pair().open()
    buf = bytearray(p.central.seal(STREAM_RACP, b"abc"))
    assert p.pump.open(STREAM_RACP, buf, len(buf) + 1) == E_MALFORMED
    assert p.pump.open(STREAM_RACP, buf, len(buf)) == 0


def test_a_two_byte_command_names_its_role_and_goes_on_to_cmdauth():
    p = Pair().open()
    buf = bytearray(p.central.seal(STREAM_COMMAND, bytes((OP_SUSPEND, ROLE_CLINICIAN))))
    assert p.pump.open_command(buf, len(buf)) == 0 and p.pump.n == 2  # too short for cmdauth, which refuses it
