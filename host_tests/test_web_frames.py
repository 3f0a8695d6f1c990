"""tools/web/frames.js (the dashboard's decoder) against tools/pumpproto.py on frames recorded from the simulator,
and tools/web/pumpdefs.json against the firmware. Needs node (`make webdeps`)."""

import json
import os
import shutil
import subprocess

import pytest

from browser.record import record
from tools import webdefs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pumpdefs_json_is_generated_from_the_firmware():
    assert webdefs.main(["--check"]) == 0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rec")
    rec = record(str(tmp))
    path = tmp / "recording.json"
    path.write_text(json.dumps(rec))
    return rec, str(path)


def test_the_recording_holds_every_kind_of_message(recording):
    rec, _ = recording
    exp = rec["expected"]
    assert len(exp["status"]) > 10 and len(exp["history"]) > 5
    assert {a["name"] for a in exp["alarm"]} >= {"OCCLUSION_SENSING_UNAVAILABLE", "RESERVOIR_LOW"}
    assert exp["racp"][-1] == {"request": 1, "code": 1}  # the history transfer ended with success
    assert exp["features"]["keys"] is True


@pytest.mark.skipif(shutil.which("node") is None, reason="no node: run `make webdeps`")
def test_frames_js_decodes_exactly_as_pumpproto(recording):
    rec, path = recording
    proc = subprocess.run(["node", os.path.join(ROOT, "host_tests", "browser", "decode.mjs"), path],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(json.dumps(rec["expected"]))


VECTORS = os.path.join(ROOT, "host_tests", "vectors", "ble_frames.json")


def _vectors(path=VECTORS):
    return subprocess.run(["node", os.path.join(ROOT, "host_tests", "browser", "vectors.mjs"), path],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("node") is None, reason="no node: run `make webdeps`")
def test_frames_js_passes_the_protocol_vectors():
    proc = _vectors()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(" checks, 0 failed")


@pytest.mark.skipif(shutil.which("node") is None, reason="no node: run `make webdeps`")
def test_the_vector_check_sees_a_wrong_value(tmp_path):
    with open(VECTORS) as f:
        doc = json.load(f)
    status = next(m for m in doc["messages"] if m["characteristic"] == "status")
    status["decoded"]["reservoir_nl"] += 1
    doc["crc16"][0]["crc"] ^= 1
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(doc))
    proc = _vectors(str(path))
    assert proc.returncode == 1
    assert "FAIL %s: decoded" % status["name"] in proc.stdout and "FAIL crc16 of" in proc.stdout
