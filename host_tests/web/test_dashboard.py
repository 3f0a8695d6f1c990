"""The dashboard (tools/dashboard/web/) in headless Chromium: served on localhost, driven by playwright-core, with
navigator.bluetooth replaced by a pump that plays frames recorded from the simulator, sealed in the secure session
by the firmware's service on either stock stack's profile (the page loads the monitor key from a file, as a user
picks it).

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

from support.webrecord import expected, record
from tools.pumplink import proto as pp
from support import ROOT

WEB = os.path.join(ROOT, "tools", "dashboard", "web")
BROWSER = os.path.join(ROOT, "host_tests", "support", "browser")
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
    """tools/dashboard/web/ on http://127.0.0.1:<free port>/ for the duration of the module."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=WEB))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def open_page(url, name, inits=(), click=None, wait=None, steps=()):
    """Run the page in headless Chromium: `click`, then `wait`, then `steps` ([("click", selector) or ("wait", js)]);
    returns the driver's {"state", "dom", "fake", "steps": [a snapshot at each wait], "errors", "console"}."""
    os.makedirs(OUT, exist_ok=True)
    shot = os.path.join(OUT, name + ".png")
    cmd = ["node", os.path.join(BROWSER, "run_page.mjs"), url, shot]
    for path in inits:
        cmd += ["--init", path]
    if click:
        cmd += ["--click", click]
    if wait:
        cmd += ["--wait", wait]
    for what, arg in steps:
        cmd += ["--" + what, arg]
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
    # headless Chromium on Linux: the page names the flag that enables Web Bluetooth there
    assert res["dom"]["support"].startswith("Chromium on Linux has Web Bluetooth behind a flag: enable "
                                            "chrome://flags/#enable-experimental-web-platform-features")


def page_recording(tmp_path, rec):
    """The init script giving the fake Bluetooth a recording."""
    page_rec = dict(rec, service_uuid=pp.SERVICE_UUID, status_uuid=pp.STATUS_UUID, alarm_uuid=pp.ALARM_UUID,
                    history_uuid=pp.HISTORY_UUID, racp_uuid=pp.RACP_UUID)
    page_rec.pop("expected")
    page_rec.pop("plain", None)
    init = tmp_path / "recording.js"
    init.write_text("window.__recording = %s;\n" % json.dumps(page_rec))
    return str(init)


def monitor_file(tmp_path, hex_key, name="monitor.json", extra=None):
    """The file `python -m tools.keys --monitor-out` writes (with `extra` keys: a file the page must refuse)."""
    path = tmp_path / name
    path.write_text(json.dumps(dict(extra or {}, monitor=hex_key)))
    return str(path)


def _session(server, tmp_path, name, pressure, profile="rp2-btstack"):
    """Record a simulated pump on `profile` as its frames went over the air (sealed in a monitor session), load the
    monitor key and play it to the page through the fake Bluetooth; (recording, page result)."""
    rec = record(str(tmp_path), pressure=pressure, profile=profile)
    wait = ("window.dashboard.racp.length > 0 && window.dashboard.history.length >= %d"
            " && window.dashboard.drawn === window.dashboard.statuses" % len(rec["expected"]["history"]))
    key = monitor_file(tmp_path, rec["session"]["monitor"])
    res = open_page(server + "index.html", name, [page_recording(tmp_path, rec),
                                                   os.path.join(BROWSER, "fake_bluetooth.js")],
                    steps=[("file", "#key-file=" + key), ("wait", "window.dashboard.key"), ("click", "#connect"),
                           ("wait", wait)])
    assert res["errors"] == [] and res["state"]["errors"] == []
    return rec, res


def _check_chart(series, points, statuses, value):
    """A chart's series holds the session's statuses (newest value per second), bounded, spanning all of it."""
    truth = {}
    for s in statuses:
        if value(s) is not None:
            truth[s["t_s"]] = value(s)
    t, v = series["t"], series["v"]
    assert 0 < len(t) <= series["max"] and points == len(t)  # every point drawn
    assert len(t) >= min(len(truth), series["max"] // 2)  # halving when full keeps at least half
    assert all(a < b for a, b in zip(t, t[1:]))
    assert (t[0], t[-1]) == (min(truth), max(truth))  # the whole session's span
    assert all(abs(v[i] - truth[t[i]]) < 1e-9 for i in range(len(t)))


@pytest.mark.parametrize("profile", ["rp2-btstack", "esp32-nimble"])
def test_the_dashboard_shows_a_recorded_pump_session(server, tmp_path, profile):
    rec, res = _session(server, tmp_path, "dashboard-" + profile, pressure=True, profile=profile)
    exp = rec["expected"]
    state, dom, fake = res["state"], res["dom"], res["fake"]
    # what the page asked the browser for, the handshake it wrote and the history request it sealed and framed
    assert fake["requests"] == [{"filters": [{"namePrefix": "PUMP-"}],
                                 "optionalServices": [pp.SERVICE_UUID, pp.BATTERY_UUID]}]
    session = rec["session"]
    handshake = [frame for message in session["writes"] for frame in message]
    assert [frame for uuid, frame in fake["writes"] if uuid == session["uuid"]] == handshake
    assert [frame for uuid, frame in fake["writes"] if uuid == pp.RACP_UUID] == rec["racp_request"]
    assert state["session"] == "open" and state["refused"] == 0
    assert dom["session"] == "Secure session open (monitor: read-only)."
    # nothing readable on the link: no 8 bytes running of any status, alarm or record payload in what the pump sent
    wire = "".join(frame for _uuid, frame in rec["updates"]) + rec["reads"][pp.STATUS_UUID]
    runs = {p[i:i + 16] for p in rec["plain"] for i in range(0, len(p) - 15, 2)}
    assert len(rec["plain"]) > 1000 and not any(run in wire for run in runs)
    # everything decoded as tools/pumplink/proto.py decodes it
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
    assert dom["pressure"] == "%.1f kPa" % (last["pressure_kpa_x10"] / 10)
    assert dom["alarm"].startswith("reservoir low (medium") and dom["alarmClass"] == "medium"
    assert dom["historyRows"] == len(exp["history"])
    assert dom["history"].count("reservoir low") >= 2  # the event, and the alarm it raised, by name
    # the boluses by the kind their records carry (1 patient, 2 clinician), the cancelled one with what it delivered
    bolus = [(r["text"], r["a"], r["kind"]) for r in exp["history"] if "kind" in r]
    assert bolus == [("bolus granted", 100000, "patient"), ("bolus done", 100000, "patient"),
                     ("bolus granted", 50000, "clinician"), ("bolus cancelled", 10000, "clinician")]
    for _text, a, kind in bolus:  # in words: the dose in ug and the kind, never a raw argument name
        assert "%d ug, %s" % (a // 1000, kind) in dom["history"]
    assert "power on" in dom["history"] and "reset_cause" not in dom["history"] and "_ng" not in dom["history"]
    assert dom["device"].startswith("%s: 200 nL/step, reservoir 40000 µL, pressure sensor" % rec["name"])
    # the live charts: every status read or notified, the reservoir falling over the session
    statuses = exp["status"]  # the value read at connection is the first status notified: the same sealed message,
    assert exp["status_read"] == statuses[0] and state["statuses"] == len(statuses) > 1000  # shown once
    _check_chart(state["series"]["reservoir_ul"], dom["chartPoints"]["reservoir-chart"], statuses,
                 lambda s: s["reservoir_nl"] / 1000)
    _check_chart(state["series"]["pressure_kpa"], dom["chartPoints"]["pressure-chart"], statuses,
                 lambda s: None if s["pressure_kpa_x10"] is None else s["pressure_kpa_x10"] / 10)
    res_ul = state["series"]["reservoir_ul"]["v"]
    assert res_ul[0] > res_ul[-1]
    assert dom["reservoir-chart"].startswith("%.0f–%.0f µL, " % (min(res_ul), max(res_ul)))


def test_without_a_pressure_sensor_the_dashboard_says_so(server, tmp_path):
    rec, res = _session(server, tmp_path, "dashboard-no-pressure", pressure=False)
    dom, state = res["dom"], res["state"]
    assert dom["device"].startswith("%s: 200 nL/step, reservoir 40000 µL, no pressure sensor" % rec["name"])
    assert dom["pressure"] == "no sensor" and "occlusion sensing unavailable" in dom["alarm-list"]
    assert dom["pressure-chart"] == "no readings" and dom["chartPoints"]["pressure-chart"] == 0
    assert state["series"]["pressure_kpa"]["t"] == []
    assert dom["chartPoints"]["reservoir-chart"] == len(state["series"]["reservoir_ul"]["t"]) > 0


def _demo_expected():
    """tools/dashboard/web/demo.json decoded by tools/pumplink/proto.py: what the demo must show."""
    with open(os.path.join(WEB, "demo.json")) as f:
        demo = json.load(f)
    uuids = {"status": pp.STATUS_UUID, "alarm": pp.ALARM_UUID, "history": pp.HISTORY_UUID, "racp": pp.RACP_UUID,
             "features": pp.FEATURES_UUID}
    reads = {uuids[name]: frame for name, frame in demo["reads"].items()}
    return expected(reads, [[uuids[name], frame] for _t_ms, name, frame in demo["updates"]])


def test_the_demo_plays_the_recorded_session_labelled_and_stops(server):
    exp = _demo_expected()
    done = ("window.dashboard.demo && window.dashboard.history.length === %d && window.dashboard.statuses === %d"
            " && window.dashboard.drawn === window.dashboard.statuses" % (len(exp["history"]), len(exp["status"]) + 1))
    res = open_page(server + "index.html?demo_s=3", "dashboard-demo", [os.path.join(BROWSER, "no_bluetooth.js")],
                    steps=[("click", "#demo"), ("wait", done), ("click", "#demo"), ("wait", "!window.dashboard.demo")])
    assert res["errors"] == [] and res["state"]["errors"] == []
    playing, stopped = res["steps"]
    state, dom = playing["state"], playing["dom"]
    # no Bluetooth in this browser: the demo needs none, and its label stays on while the recording is shown
    assert state["bluetooth"] is False and dom["connectEnabled"] is False
    assert dom["demoLabelShown"] is True and dom["demo-label"] == "DEMO — recorded session, not a pump"
    assert dom["demo"] == "Stop the demo" and dom["device"].startswith("PUMP-0001 (recorded): 200 nL/step")
    # the recording through the live decode path: every message as tools/pumplink/proto.py decodes it
    assert state["features"] == exp["features"] and state["status"] == exp["status"][-1]
    assert state["alarm"] == exp["alarm"][-1] and state["history"] == exp["history"] and state["racp"] == exp["racp"]
    last = exp["status"][-1]
    assert dom["mode"] == "flex, %s" % last["state_name"] and last["state_name"] == "running"
    assert dom["reservoir"] == "%.1f µL of 40000 µL" % (last["reservoir_nl"] / 1000) and last["reservoir_nl"] < 3400000
    assert dom["alarm"].startswith("reservoir low (medium") and dom["alarmClass"] == "medium"
    assert "bolus done" in dom["history"] and "100 ug, patient" in dom["history"]
    assert dom["chartPoints"]["reservoir-chart"] > 100 and dom["chartPoints"]["pressure-chart"] > 100
    # stopped: the label goes and nothing of the recording stays on screen
    state, dom = stopped["state"], stopped["dom"]
    assert dom["demoLabelShown"] is False and dom["demo"] == "Demo (recorded session)"
    assert state["status"] is None and state["history"] == [] and state["statuses"] == 0
    assert dom["mode"] == dom["reservoir"] == dom["alarm"] == "–" and dom["historyRows"] == 0
    assert dom["alarmClass"] == "idle" and dom["chartPoints"] == {"reservoir-chart": 0, "pressure-chart": 0}
    assert dom["device"] == "demo stopped"


def _sealed_page(server, tmp_path, name, key_file=None, wait="window.dashboard.session !== 'opening'"):
    """A short sealed recording played to the page after `key_file` is picked (None: no key loaded)."""
    rec = record(str(tmp_path), hours=2, profile="rp2-btstack")
    steps = [("file", "#key-file=" + key_file), ("wait", "window.dashboard.key")] if key_file else []
    steps += [("click", "#connect"), ("wait", "window.dashboard.connected"),
                                           ("wait", wait)]
    res = open_page(server + "index.html", name, [page_recording(tmp_path, rec),
                                                   os.path.join(BROWSER, "fake_bluetooth.js")], steps=steps)
    return rec, res


def test_without_a_monitor_key_the_page_shows_the_features_only_and_says_why(server, tmp_path):
    rec, res = _sealed_page(server, tmp_path, "dashboard-no-key", wait="window.dashboard.session === 'no key'")
    state, dom, fake = res["state"], res["dom"], res["fake"]
    assert res["errors"] == [] and state["errors"] == []
    assert state["features"] == rec["expected"]["features"] and state["status"] is None
    assert dom["session"].startswith("No monitor key loaded: status, alarms and history stay sealed.")
    assert fake["writes"] == [] and fake["reads"] == [pp.FEATURES_UUID]  # no handshake, no sealed value read
    assert dom["mode"] == "–" and dom["historyRows"] == 0


def test_a_keys_file_with_command_keys_is_refused_and_never_used(server, tmp_path):
    rec = record(str(tmp_path), hours=1)
    path = monitor_file(tmp_path, "ab" * 32, "keys-all.json", extra={"clinician": "cd" * 32, "patient": "ef" * 32})
    res = open_page(server + "index.html", "dashboard-command-keys", [page_recording(tmp_path, rec),
                                                                      os.path.join(BROWSER, "fake_bluetooth.js")],
                    steps=[("file", "#key-file=" + path), ("wait", "window.dashboard.errors.length > 0")])
    state, dom = res["state"], res["dom"]
    assert state["key"] is False
    assert dom["key-status"] == ("monitor key: the file also holds clinician, patient: load the monitor key alone "
                                 "(python -m tools.keys --monitor-out monitor.json)")


def test_a_monitor_key_that_is_not_the_pumps_is_refused_by_the_pump_proof(server, tmp_path):
    rec, res = _sealed_page(server, tmp_path, "dashboard-wrong-key", monitor_file(tmp_path, "ab" * 32),
                            wait="window.dashboard.session === 'refused'")
    state, dom = res["state"], res["dom"]
    assert state["status"] is None and state["history"] == [] and state["statuses"] == 0
    assert dom["session"] == ("Secure session refused: E500 authentication failed: pump proof (is this monitor key "
                              "this pump's?)")
    assert [u for u, _f in res["fake"]["writes"]] == [rec["session"]["uuid"]] * 2  # the HELLO, no CONFIRM
