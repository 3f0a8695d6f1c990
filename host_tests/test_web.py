"""The dashboard page (tools/web/) in headless Chromium: served on localhost, driven by playwright-core.

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(ROOT, "tools", "web")
DRIVER = os.path.join(ROOT, "host_tests", "browser", "run_page.mjs")
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


def open_page(url, name, init_script=None):
    """Run the page in headless Chromium; returns the driver's {"state", "errors", "console"}."""
    os.makedirs(OUT, exist_ok=True)
    shot = os.path.join(OUT, name + ".png")
    cmd = ["node", DRIVER, url, shot] + ([init_script] if init_script else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ, CHROMIUM=CHROMIUM))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert os.path.getsize(shot) > 1000
    return result


def test_without_web_bluetooth_the_page_says_so_and_offers_no_connect(server):
    res = open_page(server + "index.html", "no-bluetooth", os.path.join(ROOT, "host_tests", "browser",
                                                                          "no_bluetooth.js"))
    assert res["errors"] == []
    assert res["state"]["bluetooth"] is False and res["state"]["connectEnabled"] is False
    assert res["state"]["support"].startswith("This browser has no Web Bluetooth")


def test_with_web_bluetooth_the_connect_button_is_offered(server, tmp_path):
    fake = tmp_path / "fake.js"
    fake.write_text("Object.defineProperty(navigator, 'bluetooth', {value: {requestDevice: async () => null}});")
    res = open_page(server + "index.html", "bluetooth", str(fake))
    assert res["errors"] == []
    assert res["state"]["bluetooth"] is True and res["state"]["connectEnabled"] is True
