"""tools.boardconfig: the board modules' defaults read from source, config files checked by the firmware's rules."""

import json

import pytest

from tools.boardconfig import boardconfig
from tools.boardconfig.boardconfig import ConfigError


def test_board_defaults_are_the_board_modules_own():
    pins, settings = boardconfig.board_defaults("pico_w")
    assert pins["step"] == 2 and pins["en"] == 4 and pins["led"] == "LED"
    assert settings["max_steps_per_s"] == 500
    pins, settings = boardconfig.board_defaults("esp32_devkit")
    assert pins["step"] == 18 and pins["en"] == 23
    with pytest.raises(ConfigError, match="board: 'sim' is not one of esp32_devkit, pico_w"):
        boardconfig.board_defaults("sim")


def test_save_and_load_round_trip(tmp_path):
    path = str(tmp_path / "config.json")
    doc = boardconfig.new_config("esp32_devkit")
    doc["pump"]["nl_per_step"] = 187
    doc["hw"]["pressure_adc"] = 35
    boardconfig.save(path, doc)
    assert boardconfig.load(path) == doc
    name, merged, pump = boardconfig.check(doc)
    assert name == "esp32_devkit" and merged["pressure_adc"] == 35 and merged["step"] == 18
    assert pump["nl_per_step"] == 187
    assert not (tmp_path / "config.json.tmp").exists()


@pytest.mark.parametrize("doc, message", [
    ({"format": 1, "board": "pico_w", "hw": {"stp": 3}}, "config.json: hw.stp: unknown key"),
    ({"format": 1, "board": "pico_w", "pump": {"nl_per_step": -1}},
     "config.json: pump.nl_per_step: -1 not in 1..100000"),
    ({"format": 1, "board": "uno"}, "config.json: board: 'uno' is not one of"),
    ({"format": 3, "board": "pico_w"}, "config.json: format: must be 1, got 3"),
])
def test_bad_configs_name_the_file_and_key(tmp_path, doc, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as e:
        boardconfig.load(str(path))
    assert message in str(e.value) and str(path) in str(e.value)


def test_a_config_for_another_board_is_refused(tmp_path):
    path = str(tmp_path / "config.json")
    boardconfig.save(path, boardconfig.new_config("pico_w"))
    with pytest.raises(ConfigError, match=r"config\.json: board: 'pico_w', but this board is esp32_devkit"):
        boardconfig.load(path, "esp32_devkit")
    assert boardconfig.load_or_new(str(tmp_path / "none.json"), "esp32_devkit")["board"] == "esp32_devkit"


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        boardconfig.load(str(tmp_path / "none.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        boardconfig.load(str(tmp_path / "bad.json"))


def test_set_and_show_from_the_command_line(tmp_path):
    path = str(tmp_path / "config.json")
    out = []
    assert boardconfig.main(["--config", path, "--board", "pico_w", "set", "hw.pressure_adc=27",
                             "pump.catheter_volume_ul=120", "hw.led=\"LED\""], say=out.append) == 0
    assert boardconfig.load(path) == {"format": 1, "board": "pico_w", "hw": {"pressure_adc": 27, "led": "LED"},
                                      "pump": {"catheter_volume_ul": 120}}
    effective = json.loads(out[-1].split(": ", 1)[1])
    assert effective["pressure_adc"] == 27 and effective["step"] == 2 and effective["nl_per_step"] == 200
    assert boardconfig.main(["--config", path, "set", "hw.pressure_adc=default"], say=out.append) == 0
    assert boardconfig.load(path)["hw"] == {"led": "LED"}
    assert boardconfig.main(["--config", path, "show"], say=out.append) == 0


@pytest.mark.parametrize("assignment, message", [
    ("hw.stp=3", "config.json: hw.stp: unknown key"),
    ("pump.nl_per_step=0", "config.json: pump.nl_per_step: 0 not in 1..100000"),
    ("pump.nl_per_step=abc", "pump.nl_per_step: 'abc' is not a JSON value"),
    ("board=esp32_devkit", "board=esp32_devkit: expected hw.KEY=VALUE or pump.KEY=VALUE"),
])
def test_a_bad_setting_is_named_and_nothing_is_written(tmp_path, assignment, message):
    path = str(tmp_path / "config.json")
    boardconfig.save(path, boardconfig.new_config("pico_w"))
    before = open(path).read()
    out = []
    assert boardconfig.main(["--config", path, "set", assignment], say=out.append) == 2
    assert message in out[-1] and open(path).read() == before


def test_show_without_a_file_asks_for_the_board(tmp_path):
    out = []
    assert boardconfig.main(["--config", str(tmp_path / "none.json"), "show"], say=out.append) == 2
    assert "give --board" in out[-1]
