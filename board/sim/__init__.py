"""Simulated board: every role of docs/roles.md backed by a plant model; host-only, on CPython and the MicroPython
unix and webassembly ports. One concern per module, imported where used (this package imports nothing itself):

- clock: the pump clock (VirtualClock for the discrete-event simulator, ScaledClock for `make run`) and the RTC
- plant: the physical truth (volume per step, reservoir, catheter line, delivered drug, battery) and SimRng
- hydraulics: pump chamber, catheter and CSF, the outlet pressure (docs/hydraulics.md)
- roles: stepper, battery, watchdog, buzzer, LED, stall flag, encoder, pressure sensor on the plant
- flash: storage that can lose power at any byte
- radio, bleconst: a recording fake of MicroPython's `bluetooth` module, and its numbers
- hardware: the hardware object built from those parts, and the demo pump of `make run`
"""


def build(config=None):
    """The simulated board's hardware object (board.sim.hardware.build)."""
    from board.sim.hardware import build as _build

    return _build(config)


def demo_app_args():
    """The app's arguments for the demo pump of `make run` (board.sim.hardware.demo_app_args)."""
    from board.sim.hardware import demo_app_args as _args

    return _args()
