"""Pump firmware logic: pure state machines shared by the boards, the simulator and the host tests."""

VERSION = "0.1.0"
