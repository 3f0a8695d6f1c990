"""Firmware entry: pick the board (by platform, or PUMP_BOARD on the unix port), build the app, run it."""

import board
from pump.app import main


def _board_name():
    try:
        import os

        return os.getenv("PUMP_BOARD")
    except (ImportError, AttributeError):
        return None


main(board.build(_board_name()))
