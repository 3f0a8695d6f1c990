"""The board's config file: format, board name, hw and pump parts, every bad key named."""

from support import raises

import board
from pump.config import PumpConfig
from pump.errors import E_MALFORMED, E_RANGE, PumpError

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _doc(**changes):
    doc = {"format": 1, "board": "pico_w", "hw": {"pressure_adc": 27}, "pump": {"nl_per_step": 196}}
    doc.update(changes)
    return doc


def test_a_config_gives_its_hw_overrides_and_a_valid_pump_config():
    hw, pump = board.parse_config(_doc(), "pico_w")
    assert hw == {"pressure_adc": 27}
    assert PumpConfig(pump).nl_per_step == 196


def test_hw_and_pump_parts_are_optional():
    hw, pump = board.parse_config({"format": 1, "board": "esp32_devkit"}, "esp32_devkit")
    assert hw == {} and pump == {}


def _refused(doc, name="pico_w"):
    with raises(PumpError) as r:
        board.parse_config(doc, name)
    return r.value.code, r.value.detail


def test_malformed_configs_are_refused_naming_the_key():
    assert _refused([]) == (E_MALFORMED, "config.json: must be an object, got a list")
    assert _refused(_doc(extra=1)) == (E_MALFORMED, "config.json: extra: unknown key")
    assert _refused(_doc(format=2))[1] == "config.json: format: must be 1, got 2"
    assert _refused(_doc(format=True))[1] == "config.json: format: must be 1, got true"
    assert _refused(_doc(hw=[]))[1] == "config.json: hw: must be an object"
    assert _refused(_doc(pump=None))[1] == "config.json: pump: must be an object"
    code, detail = _refused(_doc(pump={"nl_per_step": 0}))
    assert code == E_RANGE and detail.startswith("config.json: pump.nl_per_step:")
    code, detail = _refused(_doc(pump={"nl_per_stp": 200}))
    assert code == E_MALFORMED and detail == "config.json: pump.nl_per_stp: unknown key"


def test_a_config_made_for_another_board_is_refused():
    code, detail = _refused(_doc(), "esp32_devkit")
    assert code == E_MALFORMED and detail.startswith("config.json: board:") and "esp32_devkit" in detail
    assert _refused({"format": 1})[1].startswith("config.json: board:")
