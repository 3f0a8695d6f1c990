"""host_tests/support/vectors/session.json against implementations that share nothing with the firmware: the
`cryptography` package's HKDF and AES-CTR and CPython's hmac read the byte layouts of docs/ble.md; the host's
tools.pumplink.session plays the central; tools/dashboard/web/session.js (Web Crypto, under node) passes the same
file."""

import hashlib
import hmac
import json
import os
import shutil
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pump.errors import PumpError
from tools.pumplink import session as pumpsession
from support import ROOT
from verify import session_vectors

VECTORS = os.path.join(ROOT, "host_tests", "support", "vectors", "session.json")


def _load():
    with open(VECTORS) as f:
        return json.load(f)


def test_the_vectors_file_is_what_the_firmware_produces():
    assert session_vectors.main(["--check"]) == 0


def test_keys_and_proofs_follow_the_documented_hkdf():
    v = _load()
    pump_id = bytes.fromhex(v["pump_id"])
    for s in v["sessions"]:
        key = bytes.fromhex(v["keys"][s["key"]])
        ikm = v["label"].encode() + bytes.fromhex(s["nonce_c"]) + bytes.fromhex(s["nonce_p"])
        okm = HKDF(hashes.SHA256(), 128, salt=key, info=bytes((s["role"],)) + pump_id).derive(ikm)
        assert okm.hex() == s["okm"]
        assert hmac.new(key, ikm, hashlib.sha256).hexdigest() == s["prk"]
        assert okm[:16].hex() == s["keys"]["c2p_enc"] and okm[112:].hex() == s["keys"]["pump_proof"]


def test_handshake_messages_have_the_documented_layout():
    v = _load()
    pump_id = bytes.fromhex(v["pump_id"])
    for s in v["sessions"]:
        k = s["keys"]
        assert bytes.fromhex(s["hello"]) == bytes((1, 1, s["role"])) + bytes.fromhex(s["nonce_c"])
        assert bytes.fromhex(s["challenge"]) == (bytes((2, 1, s["role"])) + bytes.fromhex(s["nonce_p"])
                                                 + bytes((len(pump_id),)) + pump_id + bytes.fromhex(k["pump_proof"]))
        assert bytes.fromhex(s["confirm"]) == b"\x03" + bytes.fromhex(k["central_proof"])
        assert s["result"] == "040000"
    for r in v["handshake_refusals"]:
        assert bytes.fromhex(r["reply"]) == b"\x04" + struct.pack("<H", r["code"])


def _seal(enc, mac, stream, seq, payload):
    head = struct.pack("<BI", stream, seq)
    ctr = Cipher(algorithms.AES(enc), modes.CTR(head + bytes(11))).encryptor()
    body = head + ctr.update(payload)
    return body + hmac.new(mac, body, hashlib.sha256).digest()[:16]


def test_sealed_messages_follow_the_documented_layout():
    v = _load()
    seqs = {}
    for s in v["sessions"]:
        k = {name: bytes.fromhex(h) for name, h in s["keys"].items()}
        for m in s["sealed"]:
            d = m["direction"]
            seqs[(s["name"], d, m["stream"])] = seq = seqs.get((s["name"], d, m["stream"]), 0) + 1
            assert m["seq"] == seq  # 1, 2, ... per stream and direction
            payload = bytes.fromhex(m["payload"])
            want = _seal(k[d + "_enc"], k[d + "_mac"], m["stream"], seq, payload)
            assert want.hex() == m["sealed"], m["what"]
            frames = [bytes.fromhex(f) for f in m["frames"]]
            assert b"".join(f[3:-2] for f in frames) == want and all(len(f) <= v["frame_size"] for f in frames)


def test_the_host_session_plays_the_central_of_the_vectors():
    v = _load()
    for s in v["sessions"]:
        nonce_c = bytes.fromhex(s["nonce_c"])
        c = pumpsession.Session(bytes.fromhex(v["keys"][s["key"]]), s["role"], bytes.fromhex(v["pump_id"]),
                                urandom=lambda n, nonce_c=nonce_c: nonce_c[:n])
        replies = iter([bytes.fromhex(s["challenge"]), bytes.fromhex(s["result"])])
        sent = []
        pumpsession.handshake(c, lambda msg, sent=sent, replies=replies: sent.append(msg) or next(replies))
        assert [m.hex() for m in sent] == [s["hello"], s["confirm"]]
        for m in s["sealed"]:
            if m["direction"] == "c2p":
                frames = c.seal_frames(m["stream"], bytes.fromhex(m["payload"]), m["e2e"], v["frame_size"])
                assert [f.hex() for f in frames] == m["frames"]
            else:
                assert c.open(m["stream"], bytes.fromhex(m["sealed"])).hex() == m["payload"]
        for r in s["refused"]:
            if r["direction"] == "p2c":
                with pytest.raises(PumpError) as e:
                    c.open(r["stream"], bytes.fromhex(r["sealed"]))
                assert e.value.code == r["code"]


def test_a_host_session_takes_its_key_from_a_keys_file(tmp_path):
    from tools.keys import keys

    full = str(tmp_path / "keys.json")
    keys.create(full)
    monitor = str(tmp_path / "monitor.json")
    keys.export_monitor(monitor, full)
    for path, role in ((full, "clinician"), (full, "monitor"), (monitor, "monitor")):
        s = pumpsession.Session.from_keys(role, path)
        assert s.role == {"clinician": 1, "monitor": 3}[role]
        assert s._key.digest(b"x") == hmac.new(keys.load(path, (role,))[role], b"x", hashlib.sha256).digest()
    with pytest.raises(keys.KeysError, match=r"keys\.clinician: must be 64 hex digits"):
        pumpsession.Session.from_keys("clinician", monitor)


def _node(path=VECTORS):
    return subprocess.run(["node", os.path.join(ROOT, "host_tests", "support", "browser", "session_vectors.mjs"), path],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(shutil.which("node") is None, reason="no node")
def test_session_js_passes_the_session_vectors():
    proc = _node()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(" checks, 0 failed")
    print(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(shutil.which("node") is None, reason="no node")
def test_the_js_vector_check_sees_a_wrong_value(tmp_path):
    doc = _load()
    s = doc["sessions"][0]
    s["keys"]["p2c_mac"] = s["keys"]["p2c_mac"][:-1] + ("0" if s["keys"]["p2c_mac"][-1] != "0" else "1")
    s["sealed"][0]["payload"] = "ff" + s["sealed"][0]["payload"][2:]
    s["refused"][0]["code"] = 501
    path = tmp_path / "session.json"
    path.write_text(json.dumps(doc))
    proc = _node(str(path))
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAIL %s: key p2c_mac" % s["name"] in out and "FAIL %s: open %s" % (s["name"], s["sealed"][0]["what"]) in out
    assert "FAIL %s: refused (%s)" % (s["name"], s["refused"][0]["why"]) in out
