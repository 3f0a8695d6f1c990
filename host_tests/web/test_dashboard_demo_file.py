"""The dashboard's demo session (tools/dashboard/web/demo.json): recorded from the simulated pump by
tools/dashboard/demo.py, the shipped file what the recorder gives, and the scenario it promises in it."""

import json

from support.webrecord import expected
from tools.dashboard import demo
from tools.pumplink import proto as pp


def test_demo_json_is_what_the_recorder_gives():
    assert demo.main(["--check"]) == 0


def test_a_stale_demo_json_is_refused(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "demo.json"
    stale.write_text(demo.text().replace('"hours": 26', '"hours": 25'))
    monkeypatch.setattr(demo, "PATH", str(stale))
    assert demo.main(["--check"]) == 1
    assert "demo.json is out of date: run python -m tools.dashboard.demo" in capsys.readouterr().out


def test_the_demo_session_holds_the_scenario_it_promises():
    with open(demo.PATH) as f:
        rec = json.load(f)
    uuids = {"status": pp.STATUS_UUID, "alarm": pp.ALARM_UUID, "history": pp.HISTORY_UUID, "racp": pp.RACP_UUID,
             "features": pp.FEATURES_UUID}
    times = [t_ms for t_ms, _name, _frame in rec["updates"]]
    assert times == sorted(times) and times[-1] >= rec["hours"] * 3600000  # pump time, a whole 26 h session
    exp = expected({uuids[n]: f for n, f in rec["reads"].items()}, [[uuids[n], f] for _t, n, f in rec["updates"]])
    assert {s["mode_name"] for s in exp["status"]} == {"flex"} and len(exp["status"]) > 1000
    assert {400000, 600000} <= {s["rate_nl_per_day"] for s in exp["status"]}  # both steps of the flex program
    assert exp["status"][-1]["reservoir_nl"] < exp["status_read"]["reservoir_nl"]
    assert exp["alarm"][-1]["name"] == "RESERVOIR_LOW"
    kinds = [(r["text"], r.get("kind")) for r in exp["history"]]
    assert ("bolus done", "patient") in kinds and ("reservoir low", None) in kinds
    assert [r["seq"] for r in exp["history"]] == list(range(1, len(exp["history"]) + 1))  # fetched in parts, none lost
    assert len(exp["racp"]) > 2  # the log fetched through RACP several times over the session
