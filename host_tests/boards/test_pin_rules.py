"""The pin rules of each board module (PIN_RULES), checked by boardconfig, deploy and the board at boot
(issue 16, item 7)."""

import json
import os

import pytest

from support import ROOT


# ---- item 7: the pin rules, one place (board modules' PIN_RULES), checked by boardconfig, deploy and at boot ----

@pytest.mark.parametrize("board, assignment, detail", [
    ("esp32_devkit", "hw.en=5", "hw.en: 5: fixed at 23 (boot.py disables the driver on it"),
    ("pico_w", "hw.en=5", "hw.en: 5: fixed at 4 (boot.py disables the driver on it"),
    ("esp32_devkit", "hw.step=23", "hw.en: 23: also the pin of step: each pin serves one role"),
    ("pico_w", "hw.dir=2", "hw.dir: 2: also the pin of step: each pin serves one role"),
    ("pico_w", "hw.buzzer=999", "hw.buzzer: 999: not a GPIO of this board: allowed 0-22, 26-28"),
    ("pico_w", "hw.step=23", "hw.step: 23: reserved on this board (CYW43 wireless power)"),
    ("esp32_devkit", "hw.dir=2", "hw.dir: 2: reserved on this board (boot strapping pin)"),
    ("esp32_devkit", "hw.pressure_adc=27", "hw.pressure_adc: 27: not an ADC input usable with the radio on: "
                                           "allowed 32-39"),
    ("esp32_devkit", "hw.step=35", "hw.step: 35: input only on this board, and step drives its pin"),
    ("pico_w", "hw.pressure_adc=4", "hw.pressure_adc: 4: not an ADC input usable with the radio on: allowed 26-28"),
])
def test_boardconfig_refuses_pins_the_board_rules_out(tmp_path, board, assignment, detail):
    from tools.boardconfig import boardconfig

    cfg = tmp_path / "config.json"
    out = []
    code = boardconfig.main(["--config", str(cfg), "--board", board, "set", assignment], say=out.append)
    assert code == 2 and len(out) == 1 and out[0].startswith("boardconfig: %s: " % cfg), out
    assert detail.replace("config.json: ", "%s: " % cfg) in out[0], out
    assert not cfg.exists()  # nothing half-applied


def test_the_board_refuses_the_same_pins_at_boot_and_accepts_good_ones():
    """The boot path: the board module's build() calls merge_config with its PIN_RULES (read here from its source,
    as boardconfig does, since the module imports machine); a refusal ends in the fail-safe with the same line."""
    from board import drivers
    from pump.errors import PumpError
    from tools.boardconfig import boardconfig

    for board in ("pico_w", "esp32_devkit"):
        pins, settings = boardconfig.board_defaults(board)
        rules = boardconfig.pin_rules(board)
        drivers.merge_config(pins, settings, None, rules=rules)  # the defaults keep the rules
        drivers.merge_config(pins, settings, {"pressure_adc": rules["adc"][1]}, rules=rules)
        with pytest.raises(PumpError, match="hw.buzzer: %d: also the pin of step" % pins["step"]):
            drivers.merge_config(pins, settings, {"buzzer": pins["step"]}, rules=rules)
    for name in ("pico_w.py", "esp32_devkit.py"):
        assert "merge_config(DEFAULT_PINS, DEFAULT_SETTINGS, config, rules=PIN_RULES)" in open(
            os.path.join(ROOT, "board", name)).read()


def test_deploy_refuses_a_config_that_breaks_the_pin_rules(tmp_path):
    from tools.deploy import deploy
    from tools.keys import keys

    assert keys.main(["--out", str(tmp_path / "keys.json")]) == 0
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"format": 1, "board": "esp32_devkit", "hw": {"pressure_adc": 27}, "pump": {}}))
    out = []
    code = deploy.main(["--board", "esp32_devkit", "--config", str(cfg), "--keys", str(tmp_path / "keys.json"),
                        "--dry-run"], say=out.append)
    assert code == 2 and out[-1].startswith("deploy: ") and (
        "hw.pressure_adc: 27: not an ADC input usable with the radio on: allowed 32-39" in out[-1]), out
