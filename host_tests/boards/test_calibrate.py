"""tools.calibrate: water density and Z factor against published tables, statistics, refusals, the written config."""

import json
import statistics

import pytest

from pump.config import PumpConfig
from tools.boardconfig import boardconfig
from tools.calibrate import calibrate
from tools.calibrate.calibrate import Refused


def test_water_density_matches_the_published_table():
    # Tanaka et al. (2001), table of air-free water densities, kg/m³
    for t, rho in ((4, 999.9749), (15, 999.1026), (20, 998.2067), (25, 997.0470), (30, 995.6488)):
        assert abs(calibrate.water_density(t) - rho) < 0.002, t


def test_z_factor_matches_iso_8655_table():
    # ISO 8655-6 annex A, Z in µL/mg at 101.3 kPa
    for t, z in ((15, 1.0020), (20, 1.0029), (25, 1.0040), (30, 1.0054)):
        assert round(calibrate.z_factor(t), 4) == z, t


def _mass_g(nl_per_step, steps, temp_c):
    # grams on the balance for a run that moved exactly nl_per_step per step (the inverse of V = m Z)
    return nl_per_step * steps / 1e6 / calibrate.z_factor(temp_c)


def _runs(values, steps=1000, temp_c=21.0):
    return [(steps, _mass_g(v, steps, temp_c), temp_c) for v in values]


def test_statistics_of_a_calibration():
    values = [198.0, 200.0, 202.0, 199.0, 201.5]
    res = calibrate.calibrate(_runs(values), current=200)
    assert res.values == pytest.approx(values, abs=1e-9)
    assert res.mean == pytest.approx(statistics.mean(values))
    assert res.sd == pytest.approx(statistics.stdev(values))
    assert res.cv == pytest.approx(statistics.stdev(values) / statistics.mean(values))
    assert res.median == pytest.approx(200.0)
    assert res.recommended == 200
    assert "recommended nl_per_step = %d" % res.recommended in res.report()


def test_the_recommendation_is_the_mean_rounded_to_a_whole_nl():
    assert calibrate.calibrate(_runs([187.4, 187.4, 187.4])).recommended == 187
    assert calibrate.calibrate(_runs([187.6, 187.6, 187.6])).recommended == 188
    assert calibrate.calibrate(_runs([190.0, 192.0, 194.0, 196.0]), current=200).median == pytest.approx(193.0)


def test_temperature_changes_the_volume_of_a_gram():
    cold, warm = calibrate.run_nl_per_step(1000, 0.2, 15), calibrate.run_nl_per_step(1000, 0.2, 30)
    assert warm / cold == pytest.approx(1.0054 / 1.0020, abs=1e-4)


@pytest.mark.parametrize("runs, current, message", [
    (_runs([200, 200]), None, "2 run(s): at least 3 are needed"),
    (_runs([200, 200, 200, 213]), None, "run 4: 213.000 nL/step is 6.5 % from the median 200.000 (limit 5 %)"),
    (_runs([195, 200, 205, 195, 205]), None, "CV 2.50 % is above 2 %"),
    (_runs([149, 149, 149]), 200, "recommended 149 nL/step is -25.5 % from the configured 200 (limit 25 %)"),
    (_runs([200, 200, 200], steps=100), None, "run 1: mass 0.0199 g is below 0.05 g"),
    ([(1000, 0.2, 21), (1000, 0.0, 21), (1000, 0.2, 21)], None, "run 2: mass 0.0000 g: nothing was delivered"),
    ([(1000, 0.2, 21), (1000, 0.2, 21), (1000, 0.2, 35)], None, "run 3: water at 35.0 C is outside 15..30 C"),
    ([(1000, 0.2, 21), (0, 0.2, 21), (1000, 0.2, 21)], None, "run 2: steps must be at least 1"),
    ([(1, 0.2, 21)] * 3, None, "nL/step is outside the firmware's 1..100000"),
])
def test_implausible_measurements_are_refused_saying_why(runs, current, message):
    with pytest.raises(Refused) as e:
        calibrate.calibrate(runs, current)
    assert message in str(e.value)


def test_a_large_change_passes_when_allowed():
    assert calibrate.calibrate(_runs([149, 149, 149]), 200, allow_change=True).recommended == 149
    assert calibrate.calibrate(_runs([150, 150, 150]), 200).recommended == 150  # 25 % exactly is accepted


# ---- files and the command line ----


def _csv(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _lines(values, steps=1000, temp_c=22.0):
    return "".join("%d,%.5f\n" % (steps, _mass_g(v, steps, temp_c)) for v in values)


def test_csv_run_writes_nl_per_step_into_the_config_keeping_the_rest(tmp_path):
    cfg = str(tmp_path / "config.json")
    doc = boardconfig.new_config("esp32_devkit")
    doc["hw"]["pressure_adc"] = 35
    doc["pump"].update({"nl_per_step": 200, "catheter_volume_ul": 120})
    boardconfig.save(cfg, doc)
    runs = _csv(tmp_path, "# bench 3, syringe B\nsteps,mass_g\n" + _lines([191.9, 192.3, 192.1, 191.7, 192.2]))
    out = []
    assert calibrate.main(["--csv", runs, "--temp-c", "22", "--config", cfg], say=out.append) == 0
    with open(cfg) as f:
        written = json.load(f)
    assert written["pump"] == {"nl_per_step": 192, "catheter_volume_ul": 120}
    assert written["hw"] == {"pressure_adc": 35} and written["board"] == "esp32_devkit"
    assert PumpConfig(written["pump"]).nl_per_step == 192
    assert boardconfig.load(cfg) == written
    assert "nl_per_step 200 -> 192" in out[-1]


def test_csv_with_per_run_temperature_and_a_new_config(tmp_path):
    cfg = str(tmp_path / "config.json")
    runs = _csv(tmp_path, "run,steps,mass_g,temp_c,note\n" + "".join(
        "%d,1500,%.5f,%g,ok\n" % (i, _mass_g(205, 1500, t), t) for i, t in enumerate((19, 21, 24), 1)))
    assert calibrate.main(["--csv", runs, "--config", cfg, "--board", "pico_w"], say=lambda s: None) == 0
    assert boardconfig.load(cfg)["pump"] == {"nl_per_step": 205}


def test_dry_run_and_refusal_write_nothing(tmp_path):
    cfg = str(tmp_path / "config.json")
    boardconfig.save(cfg, boardconfig.new_config("pico_w"))
    before = open(cfg).read()
    good = _csv(tmp_path, "steps,mass_g\n" + _lines([199, 199, 199]), "good.csv")
    bad = _csv(tmp_path, "steps,mass_g\n" + _lines([199, 199, 230]), "bad.csv")
    out = []
    assert calibrate.main(["--csv", good, "--temp-c", "22", "--config", cfg, "--dry-run"], say=out.append) == 0
    assert calibrate.main(["--csv", bad, "--temp-c", "22", "--config", cfg], say=out.append) == 3
    assert out[-1].startswith("calibrate: refused: run 3:")
    assert open(cfg).read() == before


@pytest.mark.parametrize("text, args, message", [
    ("steps,mass_g\n1000,abc\n", ["--temp-c", "21"], "row 2, column mass_g: 'abc' is not a number"),
    ("steps,mass_g\n1000.5,0.2\n", ["--temp-c", "21"], "row 2, column steps: '1000.5' is not a whole number"),
    ("steps,mass_g\n1000,nan\n", ["--temp-c", "21"], "row 2, column mass_g: 'nan' is not a finite number"),
    ("steps,grams\n1000,0.2\n", ["--temp-c", "21"], "column 'grams': unknown"),
    ("steps,temp_c\n1000,21\n", [], "column mass_g: missing from the header row"),
    ("steps,mass_g\n1000,0.2\n", [], "column temp_c: missing, and no --temp-c given"),
    ("# only a comment\n", [], "no header row"),
    ("steps,mass_g\n1000,0.2,7\n", ["--temp-c", "21"], "row 2: 3 fields, the header has 2"),
])
def test_malformed_csv_exits_2_naming_row_and_column(tmp_path, text, args, message):
    out = []
    code = calibrate.main(["--csv", _csv(tmp_path, text), "--config", str(tmp_path / "c.json"), "--board", "pico_w"]
                          + args, say=out.append)
    assert code == 2 and message in out[-1]
    assert not (tmp_path / "c.json").exists()


def test_a_config_for_another_board_or_none_at_all_is_an_input_error(tmp_path):
    cfg = str(tmp_path / "config.json")
    boardconfig.save(cfg, boardconfig.new_config("pico_w"))
    runs = _csv(tmp_path, "steps,mass_g\n" + _lines([200, 200, 200]))
    out = []
    assert calibrate.main(["--csv", runs, "--temp-c", "22", "--config", cfg, "--board", "esp32_devkit"],
                          say=out.append) == 2
    assert "config.json: board: 'pico_w', but this board is esp32_devkit" in out[-1]
    assert calibrate.main(["--csv", runs, "--temp-c", "22", "--config", str(tmp_path / "x.json")],
                          say=out.append) == 2
    assert "give --board" in out[-1]


def test_interactive_session_asks_again_after_a_bad_entry_and_confirms_before_writing(tmp_path):
    cfg = str(tmp_path / "config.json")
    masses = ["%.5f" % _mass_g(v, 800, 20.5) for v in (210.2, 209.8, 210.1, 210.0)]
    answers = iter(["40", "20.5", "800", "0", "4", "abc"] + masses + ["y"])
    prompts, out = [], []

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)

    assert calibrate.main(["--config", cfg, "--board", "pico_w"], ask=ask, say=out.append) == 0
    assert any("water at 40.0 C is outside" in line for line in out)
    assert any("at least 3 runs" in line for line in out)
    assert any("'abc' is not a number" in line for line in out)
    assert prompts[-1].startswith("write nl_per_step = 210 to ")
    assert boardconfig.load(cfg)["pump"]["nl_per_step"] == 210


def test_interactive_session_writes_nothing_without_a_yes(tmp_path):
    cfg = str(tmp_path / "config.json")
    answers = iter(["21", "", ""] + ["%.5f" % _mass_g(200, 1000, 21)] * 5 + [""])
    out = []
    assert calibrate.main(["--config", cfg, "--board", "pico_w"], ask=lambda p: next(answers), say=out.append) == 0
    assert out[-1] == "nothing written" and not (tmp_path / "config.json").exists()
