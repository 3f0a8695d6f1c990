"""The dashboard's history in words decoded from the firmware's definitions, and the Linux Chromium flag
(issue 16, item 10)."""

import json
import os
import subprocess


from support import ROOT


# ---- item 10: the dashboard's history in words; friction: the Linux Chromium flag ----

_NODE_SCRIPT = """
import { readFileSync } from "node:fs";
const web = process.argv[2];
const { describeRecord } = await import(web + "/frames.js");
const defs = JSON.parse(readFileSync(new URL(web + "/pumpdefs.json")));
const out = {};
for (const [code, a, b] of JSON.parse(process.argv[3])) {
  const ev = defs.events[String(code)];
  out[code + ":" + a] = ev.text + ": " + describeRecord(defs, { a, b, a_name: ev.args[0], b_name: ev.args[1] });
}
globalThis.window = {};
const app = await import(web + "/app.js").catch(() => null);
out.linux = app.bluetoothSupport({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36" }).text;
out.other = app.bluetoothSupport({ userAgent: "Mozilla/5.0 (Macintosh) Safari/605" }).text;
console.log(JSON.stringify(out));
process.exit(0);
"""


def test_the_dashboard_history_speaks_words_and_names_the_linux_flag(tmp_path):
    script = tmp_path / "describe.mjs"
    script.write_text(_NODE_SCRIPT)
    web = "file://" + os.path.join(ROOT, "tools", "dashboard", "web")
    records = [[1, 0, 0], [1, 1, 0], [2, 2, 0], [7, 202, 1], [10, 0, 0], [10, 1, 0], [6, 100000, 2], [4, 20000, 0]]
    p = subprocess.run(["node", str(script), web, json.dumps(records)], check=False, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["1:0"] == "boot: power on" and out["1:1"] == "boot: watchdog"
    assert out["2:2"] == "program changed: flex program"
    assert out["7:202"] == "bolus refused: E202 concentration mismatch, patient"
    assert out["10:0"] == "suspended: by the user" and out["10:1"] == "suspended: by the alarm occlusion"
    assert out["6:100000"] == "bolus granted: 100 ug, clinician" and out["4:20000"] == "refill: 20000 uL"
    assert "chrome://flags/#enable-experimental-web-platform-features" in out["linux"]
    assert out["other"].startswith("This browser has no Web Bluetooth")
