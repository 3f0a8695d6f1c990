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


_NAME = _board_name()
try:
    _app = board.start(_NAME)
except KeyboardInterrupt:  # `make run`'s documented stop; on a board Ctrl-C stays the REPL's (make maintenance)
    if _NAME != "sim":
        raise
    print("stopped by Ctrl-C: the simulated pump is switched off (its data is not kept between runs)")
    sys.exit(0)
if _app is None or _app.fault is not None:
    sys.exit(1)  # off a board only (the unix port): on a board the fail-safe never returns, a task fault resets
