"""What the heap_lock tests share: the heap lock itself (or a skip where there is none) and a pump in its steady
dosing cycle, warmed up so that what is left to run allocates nothing."""

from pump.compat import TICKS_MASK
from support import SkipTest
from support.rig import Rig, rx


def micropython_or_skip():
    """The micropython module, to lock the heap with; SkipTest where there is none (CPython) or no heap lock."""
    try:
        import micropython
    except ImportError:
        raise SkipTest("no heap lock on CPython")
    if not hasattr(micropython, "heap_lock"):
        raise SkipTest("this port has no heap lock")
    return micropython


def warm_pump():
    """A Rig dosing steadily at 15 mL/day, warmed up so every path of the steady cycle has run once."""
    # 08:00, 1.152 s per step; the ticks wrap 4000 s in
    rig = Rig(fill_ul=40000, prescription=rx(15000, conc=1000), start_ticks=TICKS_MASK + 1 - 4000000)
    pump = rig.pump
    pump._step = rig.hw.stepper.step_forward  # the board's driver, not the rig's recording wrapper
    rig.run(3700000)  # warm-up: every path of the steady cycle has run, and the hourly sampling at 3600 s
    pump.checkpoint(rig.now)  # no checkpoint falls due inside the locked window (3700 s to 4276 s)
    return rig
