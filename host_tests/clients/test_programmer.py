"""tools.programmer: the offline report against hand-computed figures, every bad input named, the simulation, and
commands through the link seam (dry run, the firmware's Pump on the simulated board)."""

import datetime
import json
import os

import pytest

from tools.boardconfig import boardconfig
from tools.programmer import programmer
from tools.pumplink.link import DryRunLink, wall_s
from support import ROOT
from support.simpump import SimPump

LIBRARY = os.path.join(ROOT, "lib", "druglib.json")

CONSTANT = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
            "therapy": {"mode": "constant", "dose_ug_per_day": 5000},
            "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}}


def _file(tmp_path, doc, name="rx.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def _run(tmp_path, *argv, link_factory=programmer.open_link, config=None):
    out = []
    cfg = config or str(tmp_path / "no-config.json")
    code = programmer.main(["--config", cfg] + list(argv), say=out.append, link_factory=link_factory)
    return code, out


def _report(tmp_path, doc, *extra):
    code, out = _run(tmp_path, "check", _file(tmp_path, doc), "--start", "2026-03-01", "--json", *extra)
    assert code == 0, out
    return json.loads(out[-1])


def test_constant_therapy_report_matches_hand_arithmetic(tmp_path):
    rep = _report(tmp_path, CONSTANT, "--fill-ul", "20000")["report"]
    # 5000 ug/day at 10000 ug/mL = 0.5 mL/day = 500 uL/day = 2500 steps of 200 nL
    for d in rep["days"]:
        assert (d["dose_ug"], d["volume_ul"], d["steps"]) == (5000, 500, 2500)
    assert rep["rates"] == [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "steps": [
        {"start": "00:00", "dose_ug_per_day": 5000, "rate_ul_per_day": 500, "step_interval_s": 34.56}]}]
    assert rep["patient_bolus"]["volume_ul"] == 10 and rep["patient_bolus"]["steps"] == 50
    # heaviest day: 500 uL + 4 boluses of 10 uL; 20000 uL fill, low below 3000, empty below 500
    assert rep["worst_day_volume_ul"] == 540 and rep["average_day_volume_ul"] == 500
    r = rep["reservoir"]
    assert r["worst_case"] == {"low_days": 31, "low_date": "2026-04-01", "empty_days": 36, "empty_date": "2026-04-06"}
    assert r["programmed"] == {"low_days": 34, "low_date": "2026-04-04", "empty_days": 39, "empty_date": "2026-04-09"}
    assert rep["recommended_refill_date"] == "2026-04-01" == r["worst_case"]["low_date"]  # the rule: the low date


def test_the_text_report(tmp_path):
    code, out = _run(tmp_path, "check", _file(tmp_path, CONSTANT), "--start", "2026-03-01", "--fill-ul", "20000")
    text = out[-1]
    assert code == 0
    assert "mechanism: 200 nL/step (default: no " in text
    assert "  mon-sun    5000.000 ug    500.000 uL    2500.0 steps" in text
    assert "from 00:00: 5000.000 ug/day = 500.000 uL/day, a step every 34.6 s" in text
    assert "worst case: low on 2026-04-01 (31 days), empty on 2026-04-06 (36 days)" in text
    assert text.endswith("recommended refill date: 2026-04-01 (the low date at worst-case use)")


def test_the_calibration_comes_from_config_json_or_the_option(tmp_path):
    cfg = str(tmp_path / "config.json")
    doc = boardconfig.new_config("pico_w")
    doc["pump"].update({"nl_per_step": 250, "reservoir_ul": 30000, "low_reservoir_ul": 5000})
    boardconfig.save(cfg, doc)
    code, out = _run(tmp_path, "check", _file(tmp_path, CONSTANT), "--json", config=cfg)
    rep = json.loads(out[-1])["report"]
    assert rep["nl_per_step"] == 250 and rep["days"][0]["steps"] == 2000  # 500 uL / 250 nL
    assert rep["reservoir"]["fill_ul"] == 30000 and rep["reservoir"]["low_ul"] == 5000  # the config's reservoir
    code, out = _run(tmp_path, "--nl-per-step", "125", "check", _file(tmp_path, CONSTANT), "--json", config=cfg)
    assert json.loads(out[-1])["report"]["days"][0]["steps"] == 4000


def test_weekly_flex_schedules_are_grouped_by_weekday(tmp_path):
    doc = dict(CONSTANT, therapy={"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 4000},
                                                           {"start": "06:00", "dose_ug_per_day": 8000}],
                                  "weekly": {"sat": [{"start": "00:00", "dose_ug_per_day": 2000}],
                                             "sun": [{"start": "00:00", "dose_ug_per_day": 2000}]}})
    rep = _report(tmp_path, doc)["report"]
    assert [r["days"] for r in rep["rates"]] == [["mon", "tue", "wed", "thu", "fri"], ["sat", "sun"]]
    assert rep["days"][0]["dose_ug"] == 7000  # 6 h at 4000 + 18 h at 8000
    assert rep["days"][5]["volume_ul"] == 200
    assert rep["average_day_volume_ul"] == pytest.approx((5 * 700 + 2 * 200) / 7, abs=0.001)


@pytest.mark.parametrize("doc, message", [
    ("{not json", "rx.json: not valid JSON"),
    (dict(CONSTANT, pump={}), "E100 malformed input: pump: unknown key"),
    (dict(CONSTANT, drug={"name": "morphine"}), "drug.concentration_ug_per_ml: missing"),
    (dict(CONSTANT, drug={"name": "aspirin", "concentration_ug_per_ml": 10000}),
     "E103 drug not in library: drug.name: 'aspirin'"),
    (dict(CONSTANT, therapy={"mode": "constant", "dose_ug_per_day": 25000}),
     "E200 hard limit exceeded: therapy.dose_ug_per_day: daily total with patient boluses"),
    (dict(CONSTANT, therapy={"mode": "constant", "dose_ug_per_day": 16000}, patient_bolus=None),
     "E201 soft limit needs confirmation: therapy.dose_ug_per_day"),
    (dict(CONSTANT, therapy={"mode": "flex", "steps": [{"start": "01:00", "dose_ug_per_day": 5000}]}),
     "E102 invalid schedule: therapy.steps[0].start: the first step starts at 00:00"),
    (dict(CONSTANT, patient_bolus={"dose_ug": 100, "duration_min": 10, "lockout_min": 120}),
     "patient_bolus.max_per_day: missing"),
])
def test_bad_prescriptions_exit_2_naming_the_file_and_key(tmp_path, doc, message):
    if isinstance(doc, dict) and doc.get("patient_bolus", 0) is None:
        doc = {k: v for k, v in doc.items() if k != "patient_bolus"}
    code, out = _run(tmp_path, "check", _file(tmp_path, doc))
    assert code == 2 and out[-1].startswith("programmer: %s: " % (tmp_path / "rx.json")) and message in out[-1]


def test_soft_limits_pass_when_confirmed_and_say_how(tmp_path):
    doc = {k: v for k, v in CONSTANT.items() if k != "patient_bolus"}
    doc["therapy"] = {"mode": "constant", "dose_ug_per_day": 16000}
    code, out = _run(tmp_path, "check", _file(tmp_path, doc))
    assert code == 2 and "confirm with --confirm-soft" in out[-1]
    code, out = _run(tmp_path, "check", _file(tmp_path, doc), "--confirm-soft")
    assert code == 0 and "soft limit confirmed" in out[-1]


@pytest.mark.parametrize("argv, message", [
    (["check", "missing.json"], "missing.json: no such prescription file"),
    (["--nl-per-step", "0", "check", "RX"], "--nl-per-step: E101 value out of range: pump.nl_per_step: 0"),
    (["check", "RX", "--fill-ul", "50000"], "--fill-ul: E101 value out of range: fill_ul: 50000: allowed 1..40000"),
    (["check", "RX", "--simulate", "0"], "--simulate: 0 days: allowed 0.001..3650"),
    (["--druglib", "nolib.json", "check", "RX"], "E401 storage failure: druglib: cannot read nolib.json"),
    (["send", "RX"], "--device or --port: which pump?"),
    (["send", "RX", "--device", "PUMP-0001", "--port", "/dev/ttyACM0"], "--device and --port: one link at a time"),
])
def test_bad_options_exit_2_naming_the_option(tmp_path, argv, message):
    rx = _file(tmp_path, CONSTANT)
    code, out = _run(tmp_path, *[rx if a == "RX" else a for a in argv])
    assert code == 2 and message in out[-1], out


def test_a_broken_config_json_is_named(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"format": 1, "board": "pico_w", "pump": {"nl_per_stp": 1}}')
    code, out = _run(tmp_path, "check", _file(tmp_path, CONSTANT), config=str(cfg))
    assert code == 2 and out[-1] == "programmer: %s: pump.nl_per_stp: unknown key" % cfg


def test_simulation_runs_the_prescription_with_refills_and_plots(tmp_path):
    plot = tmp_path / "sim.png"
    out = _report(tmp_path, CONSTANT, "--fill-ul", "5000", "--simulate", "20", "--refill-every", "7",
                  "--plot", str(plot))
    res = out["simulation"]
    assert res["max_error_steps"] <= 1
    assert [c["t_h"] for c in res["commands"] if c["type"] == "refill"] == [7 * 24, 14 * 24]
    assert all(c["ok"] for c in res["commands"])
    assert abs(res["delivered_ul"] - 20 * 500) <= 0.2  # 20 days at 500 uL/day, within a step
    assert plot.stat().st_size > 10000


# ---- commands through the link seam ----


def test_dry_run_checks_first_and_sends_nothing(tmp_path):
    links = []

    def factory(args, say):
        links.append(DryRunLink(say))
        return links[-1]

    code, out = _run(tmp_path, "send", _file(tmp_path, CONSTANT), "--dry-run", link_factory=factory)
    assert code == 0 and out[0].startswith("checked: morphine 10000 ug/mL constant 5000 ug/day")
    assert links[0].sent == [("program", {"prescription": CONSTANT, "confirm_soft": False})]
    assert out[-1] == "dry run: would send program (confirm_soft=False, prescription=<3 keys>)"
    bad = dict(CONSTANT, therapy={"mode": "constant", "dose_ug_per_day": 99999})
    code, out = _run(tmp_path, "send", _file(tmp_path, bad, "bad.json"), "--dry-run", link_factory=factory)
    assert code == 2 and len(links) == 1  # refused offline: no link opened


def test_the_real_dry_run_option(tmp_path):
    code, out = _run(tmp_path, "bolus", "--dose-ug", "50", "--duration-min", "15", "--dry-run", "--rx",
                     _file(tmp_path, CONSTANT))
    assert code == 0 and out == ["dry run: would send bolus (confirm_soft=False, dose_ug=50, duration_min=15)"]


def test_the_ble_link_needs_the_clinician_key_and_says_when_the_pump_is_out_of_reach(tmp_path, monkeypatch):
    code, out = _run(tmp_path, "suspend", "--device", "PUMP-1234", "--keys", str(tmp_path / "keys.json"))
    assert code == 2 and out[-1].startswith("programmer: --keys: ") and "no such file" in out[-1]
    from tools.keys import keys
    from tools.pumplink import ble as blelink
    from tools.pumplink.link import LinkError

    async def unreachable(_transport, device, timeout_s=10.0):
        raise LinkError("%s: no such pump in range" % device)

    monkeypatch.setattr(blelink.BleakTransport, "open", unreachable)
    keys.create(str(tmp_path / "keys.json"))
    code, out = _run(tmp_path, "suspend", "--device", "PUMP-1234", "--keys", str(tmp_path / "keys.json"))
    assert code == 4 and out[-1] == "programmer: PUMP-1234: no such pump in range"


def test_a_clinician_session_through_the_link(tmp_path):
    sim = SimPump()
    rx = _file(tmp_path, CONSTANT)

    def run(*argv):
        return _run(tmp_path, *argv, "--device", "sim", link_factory=sim.factory)

    code, out = run("send", rx)  # no drug in the pump yet: the concentration is unknown until a refill
    assert code == 0, out
    assert run("refill", "--fill-ul", "20000", "--concentration", "10000")[0] == 0
    code, out = run("status")
    status = json.loads(out[-1].split(": ", 1)[1])
    assert (status["mode_name"], status["state_name"], status["reservoir_nl"]) == ("constant", "running", 20000000)
    assert status["rate_nl_per_day"] == 500000
    assert out[-2].startswith("constant, running: rate 500.0 uL/day, today 0.0 uL, total 0 uL, reservoir 20000.0 uL")
    code, out = run("prime")
    assert code == 3 and out[-1] == ("programmer: the pump refused prime: E300 not allowed now: prime: suspend or "
                                     "stop therapy first")
    assert run("suspend")[0] == 0 and sim.pump.state_name == "suspended"
    assert run("prime", "--volume-ul", "20")[0] == 0 and sim.pump.state_name == "priming"
    sim.run_for(60000)  # 20 uL at 25 uL/min
    assert sim.pump.state_name == "suspended"
    assert run("resume")[0] == 0 and sim.pump.state_name == "running"
    code, out = run("bolus", "--dose-ug", "2000", "--duration-min", "30")
    assert code == 3 and "E200 hard limit exceeded: bolus.dose_ug" in out[-1]
    assert run("bolus", "--dose-ug", "100", "--duration-min", "30")[0] == 0
    assert run("set-clock", "--at", "2026-03-02 10:30")[0] == 0
    assert sim.pump.wall_s(sim.clock.ticks_ms()) == wall_s(datetime.datetime(2026, 3, 2, 10, 30))
    code, out = run("status")
    assert json.loads(out[-1].split(": ", 1)[1])["alarms"] == [10]  # no pressure sensor: occlusion sensing unavailable
    assert "alarms: OCCLUSION_SENSING_UNAVAILABLE" in out[-2]
    code, out = run("silence", "--seconds", "60")
    assert code == 0 and out[-1] == 'silence: done {"silence_ms": 60000}'
    code, out = run("acknowledge")
    assert code == 0 and out[-1] == 'acknowledge: done {"acknowledged": 1}'
    assert run("stop")[0] == 0 and sim.pump.state_name == "stopped"
    other = dict(CONSTANT, drug={"name": "morphine", "concentration_ug_per_ml": 20000})
    code, out = run("send", _file(tmp_path, other, "other.json"))
    assert code == 3 and "E202 concentration mismatch: drug.concentration_ug_per_ml" in out[-1]


def test_set_clock_outside_the_pumps_range_is_refused_before_anything_is_sent(tmp_path):
    sent = []
    for at, s in (("2100-01-01 00:00", 3155760000), ("2023-12-31 23:59", 757382340)):
        code, out = _run(tmp_path, "set-clock", "--at", at, "--device", "x", link_factory=lambda a, say: sent.append(a))
        assert code == 2 and out == ["programmer: --at %s UTC: %d not in 2024-01-01 00:00 .. 2099-12-31 23:59:59 "
                                     "(757382400..3155759999 s since 2000-01-01)" % (at, s)]
    assert sent == []
    code, out = _run(tmp_path, "set-clock", "--at", "2099-12-31 23:59", "--dry-run")
    assert code == 0, out
