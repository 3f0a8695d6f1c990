"""tools/dashboard/web/frames.js (the dashboard's decoder) against tools/pumplink/proto.py on frames recorded from the
simulator, and tools/dashboard/web/pumpdefs.json against the firmware. Needs node (`make webdeps`)."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request

import pytest

from support.webrecord import record
from tools.dashboard import webdefs
from tools.dashboard.__main__ import main as dashboard_main
from support import ROOT



def test_pumpdefs_json_is_generated_from_the_firmware():
    assert webdefs.main(["--check"]) == 0


def test_the_dashboard_command_serves_the_page_and_its_definitions():
    proc = subprocess.Popen([sys.executable, "-m", "tools.dashboard", "--port", "0"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", proc.stdout.readline()).group(0)
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b'<script type="module" src="app.js">' in page.read()  # index.html
        with urllib.request.urlopen(url + "pumpdefs.json", timeout=10) as defs:
            assert json.loads(defs.read()) == webdefs.definitions()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_dashboard_command_serves_nothing_with_stale_definitions(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "pumpdefs.json"
    stale.write_text(json.dumps(dict(webdefs.definitions(), note="edited by hand")))
    monkeypatch.setattr(webdefs, "PATH", str(stale))
    result = []
    run = threading.Thread(target=lambda: result.append(dashboard_main(["--port", "0"])), daemon=True)
    run.start()
    run.join(timeout=10)  # a server that started would never return
    assert result == [1]
    assert "out of date" in capsys.readouterr().out


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
    proc = subprocess.run(["node", os.path.join(ROOT, "host_tests", "support", "browser", "decode.mjs"), path],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(json.dumps(rec["expected"]))


VECTORS = os.path.join(ROOT, "host_tests", "support", "vectors", "ble_frames.json")


def _vectors(path=VECTORS):
    return subprocess.run(["node", os.path.join(ROOT, "host_tests", "support", "browser", "vectors.mjs"), path],
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
