"""The programmer's clinical pathway: a screening trial and pain scores sent over the wired path and audited by the
pump (role, counter, content hash), the history exported in CSV and signed JSON and verified against tampering, and
the trial report from the shipped example scenario, with bad input refused in one line (exit code 2)."""

import csv
import hashlib
import json
import struct

import pytest

from support.keys import KEY_DOC
from support.wirebench import WiredBench
from support.wirebench import serial_link as _link
from pump import events as ev
from pump.cmdauth import ROLE_CLINICIAN
from pump.commands import OP_PAIN_SCORE, OP_TRIAL
from tools import ROOT
from tools.programmer import programmer
from tools.pumplink.history import trial_data
from tools.sim import sim as simulator
from tools.sim.scenario import load

TRIAL = {"start": "2026-08-04", "end": "2026-08-12", "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
         "titration": [{"day": 0, "dose_ug_per_day": 2000}, {"day": 3, "dose_ug_per_day": 4000}]}
EXAMPLE = ROOT + "/tools/scenarios/trial_14d.json"


@pytest.fixture(scope="module")
def example_result(tmp_path_factory):
    res = simulator.Simulation(load(EXAMPLE)).run()
    path = tmp_path_factory.mktemp("trial") / "sim.json"
    path.write_text(json.dumps(res))
    return path, res


def run(argv, said):
    return programmer.main(list(argv), say=said.append)


def keys_file(tmp_path, doc=KEY_DOC):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    return str(path)


def test_a_trial_and_scores_over_the_wired_path_are_applied_and_audited_with_role_counter_and_content_hash(
        tmp_path):
    b = WiredBench()
    link, _port = _link(b, counter=500)
    trial = tmp_path / "trial.json"
    trial.write_text(json.dumps(TRIAL))
    said = []

    def send(*argv):
        return programmer.main(["--config", str(tmp_path / "none.json")] + list(argv) + ["--port", "bench"],
                               say=said.append, link_factory=lambda args, say: link)

    assert send("trial", str(trial)) == 0 and said[-1] == "trial: done"
    assert b.rig.pump.screening.trial.steps == ((0, 2000000), (3, 4000000))
    audit = [r for r in b.rig.events() if r[0] in (ev.COMMAND, ev.CONTENT)]
    # the JSON exactly as the programmer signed it: flags, then compact JSON (tools.pumplink.proto.program_payload)
    params = b"\x00" + json.dumps(TRIAL, separators=(",", ":")).encode()
    lo, hi = struct.unpack("<ii", hashlib.sha256(params).digest()[:8])
    assert audit == [(ev.COMMAND, 500, OP_TRIAL | ROLE_CLINICIAN << 8), (ev.CONTENT, lo, hi)]
    assert send("pain-score", "--score", "7", "--baseline", "--side-effects", "nausea,sedation") == 0
    scores = [r for r in b.rig.events() if r[0] == ev.PAIN_SCORE]
    assert scores == [(ev.PAIN_SCORE, 7 | 16 | ROLE_CLINICIAN << 8, 0b10001)]
    assert b.rig.events()[-1][0] == ev.PAIN_SCORE  # a score changes no therapy: no audit record
    assert send("pain-score", "--score", "4") == 3 and "E613" in said[-1]  # the pump's refusal: before the start
    assert OP_PAIN_SCORE == 14


def test_bad_trial_and_score_input_is_refused_offline_in_one_line(tmp_path):
    said = []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(TRIAL, end="2026-08-01")))
    assert run(["trial", str(bad), "--dry-run"], said) == 2
    assert said == ["programmer: %s: E101 value out of range: trial.end: 2026-08-01: allowed after trial.start "
                    "(2026-08-04), at most 60 days after" % bad]
    high = tmp_path / "high.json"
    high.write_text(json.dumps(dict(TRIAL, titration=[{"day": 0, "dose_ug_per_day": 25000}])))
    assert run(["trial", str(high), "--dry-run"], said) == 2 and "trial.titration[0].dose_ug_per_day" in said[-1]
    for argv, key in ((["--score", "11"], "--score: 11"), (["--score", "-1"], "--score: -1"),
                      (["--score", "3", "--side-effects", "itch"], "--side-effects: 'itch'"),
                      (["--score", "3", "--free-code", "40000"], "--free-code: 40000")):
        assert run(["pain-score", "--dry-run"] + argv, said) == 2
        assert said[-1].startswith("programmer: " + key) and "\n" not in said[-1]


def test_the_example_trial_runs_end_to_end_and_its_result_carries_the_scores(example_result):
    _path, res = example_result
    sc = load(EXAMPLE)
    events = [e for e in sc.events if e[1] == "pain_score"]
    t = res["trial"]
    assert t == trial_data([tuple(r) for r in res["history"]])
    assert [s["score"] for s in t["scores"]] == [e[2]["score"] for e in events]  # every score, none refused
    assert [s["baseline"] for s in t["scores"]] == [e[0] < 2 * 86400000 for e in events]  # before the start
    assert [(s["step"], s["dose_ug_per_day"]) for s in t["steps"]] == [(0, 200), (1, 400), (2, 600)]
    assert t["ended"] == "planned end" and res["resets"] == 1
    assert res["max_error_steps"] <= 1.0  # the reference followed every step the pump applied itself


def test_the_trial_report_judges_the_dose_the_titration_reached(example_result, tmp_path):
    path, _res = example_result
    events = [e for e in load(EXAMPLE).events if e[1] == "pain_score"]
    base = [e[2]["score"] for e in events if e[0] < 2 * 86400000]
    last = [e[2]["score"] for e in events if 8 * 86400000 <= e[0] < 12 * 86400000]  # step 2, 08-09 .. 08-13
    relief = 100 * (sum(base) / len(base) - sum(last) / len(last)) / (sum(base) / len(base))
    said = []
    plot, table = tmp_path / "t.png", tmp_path / "t.csv"
    assert run(["trial-report", str(path), "--plot", str(plot), "--csv", str(table)], said) == 0
    verdict = [line for line in said if "RESPONDER" in line]
    assert verdict == ["RESPONDER: %.0f %% relief (baseline %.1f/10 from %d scores, %.1f/10 from %d scores at 600 "
                       "ug/day; criterion 50 %%)" % (relief, sum(base) / len(base), len(base), sum(last) / len(last),
                                                      len(last))]
    assert plot.stat().st_size > 10000
    rows = list(csv.DictReader(table.open()))
    assert [r["kind"] for r in rows].count("baseline") == len(base) and rows[0]["time_utc"].endswith("Z")
    assert [r["dose_ug_per_day"] for r in rows if r["kind"].startswith("step")] == ["200.0", "400.0", "600.0"]
    assert run(["trial-report", str(path), "--responder-pct", str(relief + 1)], said) == 0
    assert said[-1].startswith("NOT A RESPONDER: %.0f %%" % relief)


def test_a_report_without_scores_or_baseline_or_trial_is_refused_in_one_line(tmp_path, example_result):
    _path, res = example_result
    cases = (
        ([r for r in res["history"] if r[2] != ev.PAIN_SCORE], "no pain scores in this history"),
        ([r for r in res["history"] if r[2] != ev.PAIN_SCORE or not r[3] & 16], "no baseline pain score"),
        ([r for r in res["history"] if r[2] != ev.TRIAL_PROGRAMMED], "no trial program"),
        ([r for r in res["history"] if r[2] != ev.PAIN_SCORE or r[3] & 16], "no pain score during the trial"),
    )
    for records, why in cases:
        path = tmp_path / "h.json"
        path.write_text(json.dumps({"history": records}))
        said = []
        assert run(["trial-report", str(path)], said) == 2
        assert said == ["programmer: %s: %s" % (path, said[0].split(": ", 2)[2])] and why in said[0]
    said = []
    assert run(["trial-report", str(path), "--responder-pct", "0"], said) == 2 and "--responder-pct" in said[0]


def test_the_history_exports_decoded_to_names_and_signed_and_verify_catches_every_tampering(tmp_path,
                                                                                            example_result):
    path, res = example_result
    keys = keys_file(tmp_path)
    out_csv, signed = tmp_path / "h.csv", tmp_path / "h.json"
    said = []
    assert run(["history", "--from", str(path), "--csv", str(out_csv), "--signed", str(signed), "--keys", keys],
               said) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == len(res["history"])
    step = next(r for r in rows if r["event"] == "trial step")
    assert (step["a_name"], step["detail"]) == ("step", "step 0: 200 ug/day")
    score = next(r for r in rows if r["event"] == "pain score")
    assert score["detail"] == "baseline 8/10 by clinician"
    assert run(["verify", str(signed), "--keys", keys], said) == 0 and ": valid: %d records" % len(rows) in said[-1]
    assert run(["trial-report", str(signed)], said) == 0  # the signed export is a history the report reads

    doc = json.loads(signed.read_text())
    tampered = []
    one = json.loads(json.dumps(doc))
    one["records"][5][3] += 1  # a row changed
    tampered.append(one)
    two = json.loads(json.dumps(doc))
    two["records"][3], two["records"][4] = two["records"][4], two["records"][3]  # reordered
    tampered.append(two)
    three = json.loads(json.dumps(doc))
    del three["records"][-1]  # a row removed
    tampered.append(three)
    for i, d in enumerate(tampered):
        f = tmp_path / ("t%d.json" % i)
        f.write_text(json.dumps(d))
        assert run(["verify", str(f), "--keys", keys], said) == 2 and "hmac_sha256: does not match" in said[-1]
    truncated = tmp_path / "cut.json"
    truncated.write_text(signed.read_text()[:-40])
    assert run(["verify", str(truncated), "--keys", keys], said) == 2 and "truncated or damaged" in said[-1]
    other = dict(KEY_DOC, clinician="ab" * 32)
    assert run(["verify", str(signed), "--keys", keys_file(tmp_path / "..", other)], said) == 2
    assert "another clinician key" in said[-1]
    unsigned = tmp_path / "u.json"
    unsigned.write_text(json.dumps({k: v for k, v in doc.items() if k != "hmac_sha256"}))
    assert run(["verify", str(unsigned), "--keys", keys], said) == 2 and "not signed" in said[-1]


def test_history_input_is_refused_in_one_line(tmp_path, example_result):
    path, _res = example_result
    said = []
    for argv, key in ((["history", "--csv", "x.csv"], "--from, --device or --sim"),
                      (["history", "--from", str(path)], "--csv or --signed"),
                      (["history", "--port", "/dev/ttyACM0", "--csv", "x"], "--port: the wired path"),
                      (["history", "--from", str(tmp_path / "none.json"), "--csv", "x"], str(tmp_path)),
                      (["history", "--from", str(path), "--signed", "x", "--keys", str(tmp_path / "k")], "--keys")):
        assert run(argv, said) == 2 and said[-1].startswith("programmer: " + key), said[-1]
