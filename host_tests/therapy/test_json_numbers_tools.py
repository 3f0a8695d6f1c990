"""Numbers the tools read from JSON files (scenarios, prescriptions, config.json, the drug library) and the board's
config file: 10000.0 is accepted wherever 10000 is; 1.5, NaN, inf and true are refused with exit code 2 (or a
PumpError on the board) in one line naming the file, the key and the expected type. The firmware's own readers are
in host_tests/therapy/test_json_numbers.py."""

import json
import math

import pytest

import board

from tools.boardconfig import boardconfig
from tools.deploy import deploy
from tools.programmer import programmer
from tools.sim import sim as simtool
from tools.sim.scenario import Scenario, ScenarioError
from support.machine import board_rig, pico_w

BAD = [(1.5, "1.5"), (math.nan, "NaN"), (math.inf, "Infinity"), (True, "true")]

SCENARIO = {
    "days": 2, "seed": 3, "fill_ul": 20000, "low_reservoir_ul": 3000,
    "pump": {"nl_per_step": 200, "catheter_volume_ul": 150},
    "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
    "therapy": {"mode": "constant", "dose_ug_per_day": 5000},
    "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4},
    "periodic_boluses": [{"start": "12:00", "dose_ug": 50, "duration_min": 30}],
    "events": [
        {"at_h": 2, "type": "clinician_bolus", "dose_ug": 100, "duration_min": 10},
        {"at_h": 5, "type": "suspend"},
        {"at_h": 5.5, "type": "prime", "volume_ul": 20},
        {"at_h": 6, "type": "resume"},
        {"at_h": 20, "type": "refill", "fill_ul": 20000, "concentration_ug_per_ml": 10000},
        {"at_h": 30, "type": "battery", "percent": 80},
    ],
}
# every whole number of the scenario above: (path, setter)
WHOLE = ["seed", "fill_ul", "low_reservoir_ul", "pump.nl_per_step", "pump.catheter_volume_ul",
         "drug.concentration_ug_per_ml", "patient_bolus.duration_min", "patient_bolus.lockout_min",
         "patient_bolus.max_per_day", "periodic_boluses[0].duration_min", "events[0].duration_min",
         "events[2].volume_ul", "events[4].fill_ul", "events[4].concentration_ug_per_ml"]


def _set(doc, path, value):
    """doc with the value at `path` ("a.b", "a[0].b") replaced."""
    doc = json.loads(json.dumps(doc))
    parts = path.replace("[", ".").replace("]", "").split(".")
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[parts[-1]] = value
    return doc


def _floats(doc):
    """doc with every whole number written as a float, as JSON writers emit them."""
    for path in WHOLE:
        node = doc
        for p in path.replace("[", ".").replace("]", "").split("."):
            node = node[int(p)] if p.isdigit() else node[p]
        doc = _set(doc, path, float(node))
    return doc


def _summary(res):
    return {k: res[k] for k in ("steps", "delivered_ul", "programmed_ul", "max_error_steps", "reservoir_ul", "alarms",
                                "boluses")}, [(c["type"], c["ok"]) for c in res["commands"]]


def test_a_scenario_with_whole_floats_runs_as_with_ints():
    want = simtool.Simulation(Scenario(SCENARIO)).run()
    got = simtool.Simulation(Scenario(_floats(SCENARIO))).run()
    assert _summary(got) == _summary(want)
    assert all(ok for _t, ok in _summary(want)[1])  # every command of the scenario was accepted
    assert want["max_error_steps"] <= 1


@pytest.mark.parametrize("path", WHOLE)
@pytest.mark.parametrize("value, text", BAD)
def test_a_scenario_number_that_is_no_integer_exits_2_naming_file_and_key(tmp_path, capsys, path, value, text):
    file = tmp_path / "rx scenario.json"
    file.write_text(json.dumps(_set(SCENARIO, path, value)))  # NaN and Infinity as Python's json writes them
    assert simtool.main([str(file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("scenario error: %s: " % file), err
    assert err[0].endswith("%s: must be an integer, got %s" % (path, text)), err[0]


@pytest.mark.parametrize("path", ["days", "events[5].percent", "events[0].dose_ug", "events[1].at_h"])
@pytest.mark.parametrize("value, text", [(math.nan, "NaN"), (True, "true"), ("2", '"2"')])
def test_a_scenario_number_that_is_no_number_is_refused(path, value, text):
    with pytest.raises(ScenarioError) as e:
        simtool.Simulation(Scenario(_set(SCENARIO, path, value)))
    assert str(e.value) == "%s: must be a finite number, got %s" % (path, text)


def test_scenario_version_and_plant_numbers():
    Scenario(dict(SCENARIO, version=1.0))
    for bad in (True, 1.5):
        with pytest.raises(ScenarioError, match="version: only 1 is understood, got %s" % json.dumps(bad)):
            Scenario(dict(SCENARIO, version=bad))
    Scenario(dict(SCENARIO, plant={"battery_mah": 2000.0, "compliance_ul_per_kpa": 0.2}))
    with pytest.raises(ScenarioError, match=r"^plant.battery_mah: must be a finite number, got true$"):
        Scenario(dict(SCENARIO, plant={"battery_mah": True}))


# ---- config.json: the board, boardconfig, deploy ----


def _config(tmp_path, **parts):
    doc = {"format": 1, "board": "pico_w", "hw": {}, "pump": {}}
    doc.update(parts)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_board_builds_from_a_config_with_whole_floats(monkeypatch, tmp_path):
    board_rig(monkeypatch, pico_w, "rp2")
    path = _config(tmp_path, format=1.0, hw={"pressure_adc": 27.0, "max_steps_per_s": 400.0, "dir_forward": 1.0},
                   pump={"nl_per_step": 196.0})
    hw, pump = board.configured("pico_w", path)
    assert hw.pressure is not None and hw.stepper.max_steps_per_s == 400
    assert pump == {"nl_per_step": 196} and type(pump["nl_per_step"]) is int


@pytest.mark.parametrize("part, key, kind", [("hw", "max_steps_per_s", "an integer"),
                                             ("hw", "pressure_adc", "a pin number, a pin name or null"),
                                             ("pump", "nl_per_step", "an integer")])
@pytest.mark.parametrize("value, text", BAD)
def test_the_board_refuses_a_config_number_naming_file_and_key(monkeypatch, tmp_path, part, key, kind, value, text):
    bench, _ = board_rig(monkeypatch, pico_w, "rp2")
    path = _config(tmp_path, **{part: {key: value}})
    with pytest.raises(board.PumpError) as e:
        board.build_configured("pico_w", path)
    assert e.value.detail == "config.json: %s.%s: must be %s, got %s" % (part, key, kind, text)
    assert bench.log == []  # refused before the first pin is made


@pytest.mark.parametrize("part, key", [("hw", "max_steps_per_s"), ("hw", "pressure_adc"), ("pump", "nl_per_step")])
def test_boardconfig_takes_whole_floats_and_refuses_the_rest(tmp_path, part, key):
    whole = 27 if key == "pressure_adc" else 200  # a pin the board's rules allow for an analog input (ADC1)
    path = _config(tmp_path, **{part: {key: float(whole)}})
    name, merged, pump = boardconfig.check(boardconfig.load(path))
    assert {**merged, **pump}[key] == whole and type({**merged, **pump}[key]) is int
    out = []
    assert boardconfig.main(["--config", path, "set", "%s.%s=1.5" % (part, key)], say=out.append) == 2
    kind = "a pin number, a pin name or null" if key == "pressure_adc" else "an integer"
    assert out == ["boardconfig: %s: %s.%s: must be %s, got 1.5" % (path, part, key, kind)]


def test_deploy_verifies_a_calibration_written_as_a_float(tmp_path):
    path = _config(tmp_path, pump={"nl_per_step": 196.0})
    doc, _merged, pump = deploy.check_inputs("pico_w", None, path)
    assert pump == {"nl_per_step": 196}
    with pytest.raises(deploy.DeployError, match=r"^config: %s: pump.nl_per_step: must be an integer, got 1.5$" % path):
        deploy.check_inputs("pico_w", None, _config(tmp_path, pump={"nl_per_step": 1.5}))


# ---- the programmer: prescription files, config.json, the drug library ----


def _rx(tmp_path, conc=10000, max_per_day=4):
    doc = {"drug": {"name": "morphine", "concentration_ug_per_ml": conc},
           "therapy": {"mode": "constant", "dose_ug_per_day": 4000},
           "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": max_per_day}}
    path = tmp_path / "rx.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_programmer_checks_a_prescription_with_whole_floats(tmp_path):
    out = []
    code = programmer.main(["--config", _config(tmp_path, pump={"nl_per_step": 200.0}), "check",
                            _rx(tmp_path, 10000.0, 4.0), "--fill-ul", "20000"], say=out.append)
    assert code == 0, out
    assert any("10000 ug/mL" in line for line in out), out


@pytest.mark.parametrize("value, text", BAD)
def test_the_programmer_refuses_a_prescription_number_naming_file_and_key(tmp_path, value, text):
    out = []
    rx = _rx(tmp_path, conc=value)
    code = programmer.main(["--config", _config(tmp_path), "check", rx], say=out.append)
    assert code == 2
    assert len(out) == 1 and out[0].startswith("programmer: %s: " % rx), out
    assert out[0].endswith("drug.concentration_ug_per_ml: must be an integer, got %s" % text), out


def test_the_programmer_reads_a_drug_library_with_a_whole_float_format(tmp_path):
    with open(programmer.LIBRARY) as f:
        doc = json.load(f)
    lib = tmp_path / "druglib.json"
    lib.write_text(json.dumps(dict(doc, format=1.0)))
    out = []
    args = ["--config", _config(tmp_path), "--druglib", str(lib), "check", _rx(tmp_path)]
    assert programmer.main(args, say=out.append) == 0, out
    lib.write_text(json.dumps(dict(doc, format=True)))
    out = []
    assert programmer.main(args, say=out.append) == 2
    assert out == ["programmer: E100 malformed input: %s: format: must be 1, got true" % lib]
