"""The dashboard (tools/web/) in headless Chromium: served on localhost, driven by playwright-core, with
navigator.bluetooth replaced by a pump that plays frames recorded from the simulator.

Needs `make webdeps` (Debian's chromium, playwright-core in node_modules/); skipped without them. Screenshots go to
out/web/.
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

from browser.record import record
from tools import pumpproto as pp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(ROOT, "tools", "web")
BROWSER = os.path.join(ROOT, "host_tests", "browser")
OUT = os.path.join(ROOT, "out", "web")
CHROMIUM = shutil.which(os.environ.get("CHROMIUM", "chromium"))

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("node") is None
    or not os.path.isdir(os.path.join(ROOT, "node_modules", "playwright-core")),
    reason="no chromium / node / playwright-core: run `make webdeps`")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """tools/web/ on http://127.0.0.1:<free port>/ for the duration of the module."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=WEB))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def open_page(url, name, inits=(), click=None, wait=None):
    """Run the page in headless Chromium; returns the driver's {"state", "dom", "fake", "errors", "console"}."""
    os.makedirs(OUT, exist_ok=True)
    shot = os.path.join(OUT, name + ".png")
    cmd = ["node", os.path.join(BROWSER, "run_page.mjs"), url, shot]
    for path in inits:
        cmd += ["--init", path]
    if click:
        cmd += ["--click", click]
    if wait:
        cmd += ["--wait", wait]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ, CHROMIUM=CHROMIUM),
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert os.path.getsize(shot) > 1000
    return result


def test_without_web_bluetooth_the_page_says_so_and_offers_no_connect(server):
    res = open_page(server + "index.html", "no-bluetooth", [os.path.join(BROWSER, "no_bluetooth.js")])
    assert res["errors"] == [] and res["state"]["errors"] == []
    assert res["state"]["bluetooth"] is False and res["dom"]["connectEnabled"] is False
    assert res["dom"]["support"].startswith("This browser has no Web Bluetooth")


def test_the_dashboard_shows_a_recorded_pump_session(server, tmp_path):
    rec = record(str(tmp_path))
    exp = rec["expected"]
    page_rec = dict(rec, service_uuid=pp.SERVICE_UUID, status_uuid=pp.STATUS_UUID, alarm_uuid=pp.ALARM_UUID,
                    history_uuid=pp.HISTORY_UUID, racp_uuid=pp.RACP_UUID)
    page_rec.pop("expected")
    init = tmp_path / "recording.js"
    init.write_text("window.__recording = %s;\n" % json.dumps(page_rec))
    n = len(exp["history"])
    res = open_page(server + "index.html", "dashboard", [str(init), os.path.join(BROWSER, "fake_bluetooth.js")],
                    click="#connect", wait="window.dashboard.racp.length > 0 && window.dashboard.history.length >= %d"
                    % n)
    state, dom, fake = res["state"], res["dom"], res["fake"]
    assert res["errors"] == [] and state["errors"] == []
    # what the page asked the browser for, and the history request it framed
    assert fake["requests"] == [{"filters": [{"namePrefix": "PUMP-"}],
                                 "optionalServices": [pp.SERVICE_UUID, pp.BATTERY_UUID]}]
    assert [frame for uuid, frame in fake["writes"] if uuid == pp.RACP_UUID] == rec["racp_request"]
    # everything decoded as tools/pumpproto.py decodes it
    assert state["connected"] is True and state["device"] == rec["name"]
    assert state["features"] == exp["features"]
    assert state["status"] == exp["status"][-1]
    assert state["alarm"] == exp["alarm"][-1]
    assert state["history"] == exp["history"] and state["racp"] == exp["racp"]
    # and shown
    last = exp["status"][-1]
    assert dom["reservoir"] == "%.1f µL of %d µL" % (last["reservoir_nl"] / 1000, exp["features"]["reservoir_ul"])
    assert dom["mode"] == "%s, %s" % (last["mode_name"], last["state_name"])
    assert dom["rate"] == "%.1f µL/day" % (last["rate_nl_per_day"] / 1000)
    assert dom["alarm"].startswith("reservoir low (medium") and dom["alarmClass"] == "medium"
    assert "occlusion sensing unavailable" in dom["alarm-list"]
    assert dom["historyRows"] == n
    assert dom["history"].count("reservoir low") >= 2  # the event, and the alarm it raised, by name
    assert dom["device"].startswith("%s: 200 nL/step, reservoir 40000 µL, no pressure sensor" % rec["name"])
