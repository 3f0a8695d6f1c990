"""Firmware entry: pick the board (by platform, or PUMP_BOARD on the unix port), build it from config.json, run; a
failure before the app runs ends in the board's fail-safe (board.start)."""

import sys

import board


def _board_name():
    try:
        import os

        return os.getenv("PUMP_BOARD")
    except (ImportError, AttributeError):
        return None


if board.start(_board_name()) is None:
    sys.exit(1)  # off a board only (the unix port): on a board the fail-safe never returns
