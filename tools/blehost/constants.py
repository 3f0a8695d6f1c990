"""MicroPython's `bluetooth` numbers for the shim: the simulated board's table (board.sim.bleconst), which its fake
radio uses on the MicroPython ports too; no Bumble import."""

from board.sim.bleconst import *  # noqa: F403
