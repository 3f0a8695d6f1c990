"""Board selection: picks the hardware module for this interpreter and builds its hardware object, importing lazily."""

import sys

# Why the board last reset (hw.reset_cause): stable numbers, logged and sent over BLE.
from pump.config import RESET_OTHER, RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG  # noqa: E402,F401

BOARDS = ("pico_w", "esp32_devkit", "sim")

# sys.platform -> board module; anything not listed runs the simulated board.
_BY_PLATFORM = {"rp2": "pico_w", "esp32": "esp32_devkit"}


def board_for_platform(platform):
    """Name of the board module for a sys.platform value ("rp2" -> "pico_w", unknown -> "sim")."""
    return _BY_PLATFORM.get(platform, "sim")


def build(name=None, config=None):
    """Build the hardware object of board `name` (default: the one for sys.platform) from `config` (dict or None).

    Board modules are imported here, not at package import, so `import board` never touches `machine`.
    """
    if name is None:
        name = board_for_platform(sys.platform)
    if name == "pico_w":
        from board import pico_w as mod
    elif name == "esp32_devkit":
        from board import esp32_devkit as mod
    elif name == "sim":
        from board import sim as mod
    else:
        from pump.errors import E_MALFORMED, PumpError

        raise PumpError(E_MALFORMED, "board")
    return mod.build(config)
