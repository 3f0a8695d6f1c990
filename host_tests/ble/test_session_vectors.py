"""The firmware's session code at both ends reproduces host_tests/support/vectors/session.json byte for byte, on
CPython and both MicroPython ports: handshake messages from the fixed nonces, the keys, every sealed message each
way, every refusal with its code, and the pump's RESULT to each refused handshake step."""

import json
from binascii import unhexlify

from support.aes import new_ecb
from pump import session as ss
from pump.cmdauth import parse_keys
from pump.errors import PumpError
from pump.hmac import Hmac
from pump.seal import OVERHEAD

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_ROLE_OF = {"clinician": 1, "patient": 2, "monitor": 3}


def _path():
    here = __file__
    for _ in range(2):
        here = here[: here.rfind("/")] if "/" in here else "."
    return here + "/support/vectors/session.json"


def _load():
    with open(_path()) as f:
        return json.load(f)


def _u(h):
    return unhexlify(h)


def _key_doc(v, monitor=True):
    return {k: h for k, h in v["keys"].items() if monitor or k != "monitor"}


def _ends(v, s):
    nonce_p = _u(s["nonce_p"])
    pump = ss.PumpSession(parse_keys(_key_doc(v)), _u(v["pump_id"]), lambda n: nonce_p[:n], new_ecb)
    central = ss.CentralSession(_u(v["keys"][s["key"]]), s["role"], new_ecb, _u(v["pump_id"]))
    return pump, central


def _handshake(pump, central, s):
    hello = central.hello(_u(s["nonce_c"]))
    assert hello == _u(s["hello"])
    challenge = pump.handshake(hello, len(hello))
    assert challenge == _u(s["challenge"])
    confirm = central.confirm(challenge)
    assert confirm == _u(s["confirm"])
    result = pump.handshake(confirm, len(confirm))
    assert result == _u(s["result"])
    central.established(result)


def test_the_vectors_file_has_every_role_and_kind_of_message():
    v = _load()
    assert v["format"] == 1 and sorted(s["role"] for s in v["sessions"]) == [1, 2, 3]
    kinds = {(m["direction"], m["stream"]) for s in v["sessions"] for m in s["sealed"]}
    assert kinds == {("p2c", 2), ("p2c", 3), ("p2c", 5), ("c2p", 4), ("c2p", 6), ("p2c", 6)}
    assert len(v["handshake_refusals"]) >= 8 and all(len(s["refused"]) >= 9 for s in v["sessions"])


def test_both_ends_reproduce_the_handshakes_and_keys():
    v = _load()
    for s in v["sessions"]:
        pump, central = _ends(v, s)
        _handshake(pump, central, s)
        role = s["role"]
        assert _role(s) == role and pump.role == role and pump.state == ss.OPEN
        key = Hmac(_u(v["keys"][s["key"]]))
        nc, np_ = _u(s["nonce_c"]), _u(s["nonce_p"])
        assert key.digest(v["label"].encode(), nc, np_) == _u(s["prk"])
        okm = ss.derive(key, role, nc, np_, _u(v["pump_id"]))
        assert okm == _u(s["okm"]) == central._okm
        k = s["keys"]
        parts = (k["c2p_enc"], k["c2p_mac"], k["p2c_enc"], k["p2c_mac"], k["central_proof"], k["pump_proof"])
        assert _u("".join(parts)) == okm


def _role(s):
    return _ROLE_OF[s["key"]]


def test_both_ends_seal_and_open_every_message_of_the_vectors():
    v = _load()
    for s in v["sessions"]:
        pump, central = _ends(v, s)
        _handshake(pump, central, s)
        for m in s["sealed"]:
            payload, sealed = _u(m["payload"]), _u(m["sealed"])
            assert len(sealed) == len(payload) + OVERHEAD
            if m["direction"] == "p2c":
                out = bytearray(len(sealed))
                assert pump.seal(m["stream"], payload, len(payload), out) == len(sealed)
                assert bytes(out) == sealed, m["what"]
                assert central.open(m["stream"], sealed) == payload
            else:
                assert central.seal(m["stream"], payload) == sealed, m["what"]
                buf = bytearray(sealed)
                assert pump.open(m["stream"], buf, len(buf)) == 0 and bytes(buf[: pump.n]) == payload


def test_the_refused_messages_of_the_vectors_are_refused_with_their_code():
    v = _load()
    for s in v["sessions"]:
        pump, central = _ends(v, s)
        _handshake(pump, central, s)
        for m in s["sealed"]:  # the session's traffic first, then each refused message on its own
            if m["direction"] == "p2c":
                central.open(m["stream"], _u(m["sealed"]))
            else:
                buf = bytearray(_u(m["sealed"]))
                pump.open(m["stream"], buf, len(buf))
        seqs = (list(pump.rx.seqs), list(central.rx.seqs))
        for r in s["refused"]:
            msg = _u(r["sealed"])
            if r["direction"] == "p2c":
                code = 0
                try:
                    central.open(r["stream"], msg)
                except PumpError as e:
                    code = e.code
            else:
                buf = bytearray(msg)
                code = pump.open(r["stream"], buf, len(buf))
            assert code == r["code"], r["why"]
            assert (list(pump.rx.seqs), list(central.rx.seqs)) == seqs


def test_the_pump_answers_each_refused_handshake_step_as_the_vectors_say():
    v = _load()
    s = v["sessions"][0]
    nonce_p = _u(s["nonce_p"])
    for r in v["handshake_refusals"]:
        keys = parse_keys(_key_doc(v, monitor=r["keys"] != "no monitor"))
        pump = ss.PumpSession(keys, _u(v["pump_id"]), lambda n: nonce_p[:n], new_ecb)
        reply = None
        for m in r["messages"]:
            msg = _u(m)
            reply = pump.handshake(msg, len(msg))
        assert reply == _u(r["reply"]) == ss.result(r["code"]), r["why"]
        assert pump.state == ss.IDLE and pump.tx is None
