"""Firmware entry: pick the board (by platform, or PUMP_BOARD on the unix port), build it from config.json, run."""

import board
from pump.app import main


def _board_name():
    try:
        import os

        return os.getenv("PUMP_BOARD")
    except (ImportError, AttributeError):
        return None


main(board.build_configured(_board_name()))
