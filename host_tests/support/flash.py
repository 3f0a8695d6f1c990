"""Storage fake for tests: the simulated board's flash, which can lose power at any byte."""

from board.sim.flash import FakeStorage, PowerCut  # noqa: F401
