"""Test vectors of the secure session (docs/ble.md, "Secure session"): handshakes with fixed keys and nonces run by
the firmware's own pump.session at both ends, their keys, and sealed messages each way with what a receiver must
refuse. host_tests/support/vectors/session.json is this module's output; the Python tests (CPython and both MicroPython
ports) and the dashboard's tools/dashboard/web/session.js are checked against the same file.

    python -m verify.session_vectors            # rewrite host_tests/support/vectors/session.json
    python -m verify.session_vectors --check    # exit 1 when the file is not what the code produces
"""

import json
import os
import struct
import sys

from pump.cmdauth import ROLE_CLINICIAN, ROLE_MONITOR, ROLE_NAMES, ROLE_PATIENT, parse_keys
from pump.commands import OP_SUSPEND, pack_response
from pump.errors import E_AUTH, E_MALFORMED, E_NO_KEYS, E_REPLAY, E_STATE, PumpError
from pump.hmac import Hmac
from pump.seal import (HEAD_LEN, STREAM_ALARM, STREAM_COMMAND, STREAM_HISTORY, STREAM_RACP,
                       STREAM_STATUS, TAG_LEN)
from pump.session import (C2P_ENC, C2P_MAC, CENTRAL_PROOF, LABEL, P2C_ENC, P2C_MAC, PUMP_PROOF,
                          CentralSession, PumpSession, derive)
from pump.session import result as result_msg
from tools import ROOT, generated
from tools.pumplink import proto as pumpproto
from tools.pumplink.session import new_ecb
from verify import ble_vectors

PATH = os.path.join(ROOT, "host_tests", "support", "vectors", "session.json")
MONITOR_KEY = bytes(range(0xC0, 0xE0))  # test keys only: never a pump's
KEYS = {ROLE_CLINICIAN: ble_vectors.CLINICIAN_KEY, ROLE_PATIENT: ble_vectors.PATIENT_KEY, ROLE_MONITOR: MONITOR_KEY}
PUMP_ID = bytes.fromhex("e6614103e7452d2f")  # an RP2040 unique id, as the Serial Number characteristic reads it
FRAME_SIZE = 20


def _hex(b):
    return bytes(b).hex()


def _key_doc():
    return {ROLE_NAMES[r - 1]: KEYS[r].hex() for r in KEYS}


def _nonce(tag):
    return bytes((tag + 17 * i) & 0xFF for i in range(16))


def _status():
    v = ble_vectors.vectors()
    return next(bytes.fromhex(m["payload"]) for m in v["messages"] if m["name"] == "status, running")


def _alarm():
    v = ble_vectors.vectors()
    return next(bytes.fromhex(m["payload"]) for m in v["messages"] if m["name"] == "alarm: occlusion, sounding")


def _record():
    v = ble_vectors.vectors()
    return next(bytes.fromhex(m["payload"]) for m in v["messages"] if m["characteristic"] == "history")


def _traffic(role):
    """(direction, stream, payload, what) of each sealed message of a session, in the order they are sealed."""
    out = [("p2c", STREAM_STATUS, _status(), "status (docs/ble.md example)"),
           ("p2c", STREAM_ALARM, _alarm(), "alarm: occlusion, sounding"),
           ("c2p", STREAM_RACP, pumpproto.racp_request(4, 1), "RACP: count all records"),
           ("p2c", STREAM_HISTORY, _record(), "history record 42"),
           ("p2c", STREAM_STATUS, _status()[:4] + b"\x02" + _status()[5:], "status again (mode flex)")]
    if role == ROLE_CLINICIAN:
        cmd = ble_vectors.vectors()["commands"][0]  # suspend, counter 7, signed with the clinician's key
        buf = bytearray(64)
        answer = bytes(buf[: pack_response(buf, OP_SUSPEND, 0, cmd["counter"], b"")])
        out += [("c2p", STREAM_COMMAND, bytes.fromhex(cmd["payload"]), "command: clinician suspend, counter 7"),
                ("p2c", STREAM_COMMAND, answer, "answer: suspend accepted")]
    return out


def _session(name, role, tag):
    keys = parse_keys(_key_doc())
    nonce_c, nonce_p = _nonce(tag), _nonce(tag + 0x80)
    pump = PumpSession(keys, PUMP_ID, lambda n: nonce_p[:n], new_ecb)
    central = CentralSession(KEYS[role], role, new_ecb, PUMP_ID)
    hello = central.hello(nonce_c)
    challenge = pump.handshake(hello, len(hello))
    confirm = central.confirm(challenge)
    result = pump.handshake(confirm, len(confirm))
    central.established(result)
    okm = derive(Hmac(KEYS[role]), role, nonce_c, nonce_p, PUMP_ID)
    sealed = []
    for i, (direction, stream, payload, what) in enumerate(_traffic(role)):
        if direction == "p2c":
            out = bytearray(len(payload) + HEAD_LEN + TAG_LEN)
            pump.seal(stream, payload, len(payload), out)
            msg = bytes(out)
            assert central.open(stream, msg) == payload
        else:
            msg = central.seal(stream, payload)
            buf = bytearray(msg)
            assert pump.open(stream, buf, len(buf)) == 0 and bytes(buf[: pump.n]) == payload
        sealed.append({"what": what, "direction": direction, "stream": stream, "seq": msg[1] | msg[2] << 8,
                       "payload": _hex(payload), "sealed": _hex(msg), "e2e": i + 1,
                       "frames": [_hex(f) for f in pumpproto.split(msg, i + 1, FRAME_SIZE)]})
    return {
        "name": name, "role": role, "key": ROLE_NAMES[role - 1], "nonce_c": _hex(nonce_c), "nonce_p": _hex(nonce_p),
        "hello": _hex(hello), "challenge": _hex(challenge), "confirm": _hex(confirm), "result": _hex(result),
        "prk": _hex(Hmac(KEYS[role]).digest(LABEL, nonce_c, nonce_p)), "okm": _hex(okm),
        "keys": {"c2p_enc": _hex(okm[C2P_ENC:C2P_MAC]), "c2p_mac": _hex(okm[C2P_MAC:P2C_ENC]),
                 "p2c_enc": _hex(okm[P2C_ENC:P2C_MAC]), "p2c_mac": _hex(okm[P2C_MAC:CENTRAL_PROOF]),
                 "central_proof": _hex(okm[CENTRAL_PROOF:PUMP_PROOF]), "pump_proof": _hex(okm[PUMP_PROOF:])},
        "sealed": sealed,
        "refused": _refused(pump, central),
    }


def _refused(pump, central):
    """Messages each receiver refuses after the session's traffic, each on its own (nothing changes): the next
    status altered, an old one again, one sealed for another stream or the other direction."""
    out = []
    nxt = bytearray(len(_status()) + HEAD_LEN + TAG_LEN)
    pump.seal(STREAM_STATUS, _status(), len(_status()), nxt)  # the pump's next status, altered below
    good = bytes(nxt)

    def flip(i, bit=1):
        b = bytearray(good)
        b[i] ^= bit
        return bytes(b)

    first_status = central.rx.seqs[STREAM_STATUS]
    old = bytearray(good)
    old[1:5] = struct.pack("<I", first_status)
    for why, msg, stream, code in (
        ("tag changed", flip(len(good) - 1), STREAM_STATUS, E_AUTH),
        ("payload changed", flip(HEAD_LEN + 3, 0x80), STREAM_STATUS, E_AUTH),
        ("counter of the last status accepted", bytes(old), STREAM_STATUS, E_REPLAY),
        ("received on another stream", good, STREAM_ALARM, E_MALFORMED),
        ("stream byte changed", flip(0, 0x01), STREAM_STATUS, E_MALFORMED),
        ("counter of 2**30", good[:4] + b"\x40" + good[5:], STREAM_STATUS, E_MALFORMED),
        ("shorter than header and tag", good[:20], STREAM_STATUS, E_MALFORMED),
        ("last byte cut", good[:-1], STREAM_STATUS, E_AUTH),
    ):
        try:
            central.open(stream, msg)
            raise AssertionError(why)
        except PumpError as e:
            assert getattr(e, "code", None) == code, (why, e)
        out.append({"direction": "p2c", "why": why, "stream": stream, "sealed": _hex(msg), "code": code})
    reflected = bytearray(good)  # the pump's own status sent back to it on the status stream
    code = pump.open(STREAM_STATUS, reflected, len(reflected))
    assert code == E_AUTH
    out.append({"direction": "c2p", "why": "the pump's own message sent back to it", "stream": STREAM_STATUS,
                "sealed": _hex(good), "code": code})
    return out


def _handshake_refusals(sessions):
    """Handshake messages a pump in a given state refuses, with its RESULT."""
    s = sessions[0]
    hello = bytes.fromhex(s["hello"])
    confirm = bytes.fromhex(s["confirm"])
    wrong = bytearray(confirm)
    wrong[1] ^= 1
    out = []
    for why, keys, steps, code in (
        ("HELLO of version 2", "all", [hello[:1] + b"\x02" + hello[2:]], E_MALFORMED),
        ("HELLO for role 4", "all", [hello[:2] + b"\x04" + hello[3:]], E_MALFORMED),
        ("HELLO one byte short", "all", [hello[:-1]], E_MALFORMED),
        ("HELLO for the monitor on a pump without its key", "no monitor", [hello], E_NO_KEYS),
        ("CONFIRM without a HELLO", "all", [confirm], E_STATE),
        ("CONFIRM with a wrong proof", "all", [hello, bytes(wrong)], E_AUTH),
        ("the right CONFIRM after a wrong one", "all", [hello, bytes(wrong), confirm], E_STATE),
        ("unknown message type", "all", [b"\x09" + hello[1:]], E_MALFORMED),
    ):
        doc = _key_doc()
        if keys == "no monitor":
            del doc["monitor"]
        nonce_p = bytes.fromhex(s["nonce_p"])
        pump = PumpSession(parse_keys(doc), PUMP_ID, lambda n, nonce_p=nonce_p: nonce_p[:n], new_ecb)
        for m in steps:
            reply = pump.handshake(m, len(m))
        assert reply == result_msg(code), why
        out.append({"why": why, "keys": keys, "session": s["name"], "messages": [_hex(m) for m in steps],
                    "reply": _hex(reply), "code": code})
    return out


def vectors():
    sessions = [_session("monitor session (the dashboard)", ROLE_MONITOR, 0x10),
                _session("clinician session (the programmer)", ROLE_CLINICIAN, 0x20),
                _session("patient session", ROLE_PATIENT, 0x30)]
    return {
        "format": 1,
        "about": "pump secure session (docs/ble.md): made by tools/session_vectors.py from the firmware's own code",
        "keys": {name: KEYS[i + 1].hex() for i, name in enumerate(ROLE_NAMES)},
        "pump_id": _hex(PUMP_ID),
        "label": LABEL.decode(),
        "frame_size": FRAME_SIZE,
        "sessions": sessions,
        "handshake_refusals": _handshake_refusals(sessions),
    }


def text():
    return json.dumps(vectors(), indent=1) + "\n"


def main(argv=None):
    return generated.main(argv, "verify.session_vectors", PATH, text, __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
