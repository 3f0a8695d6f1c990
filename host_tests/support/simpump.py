"""The firmware's Pump on the simulated board behind the programmer's LocalLink (`SimPump`), and the programmer's
command line run against it (`run_programmer`): the clinician's session end to end without a radio."""

import datetime

from board import sim as simboard
from board.sim.clock import SimRtc, VirtualClock
from board.sim.flash import FakeStorage
from board.sim.plant import Plant
from pump.compat import ticks_diff
from pump.config import PumpConfig
from pump.controller import Pump
from pump.druglib import DrugLibrary
from support import ROOT
from tools.programmer import programmer
from tools.pumplink.link import LocalLink, wall_s

LIBRARY = ROOT + "/lib/druglib.json"


class SimPump:
    """The firmware's Pump on the simulated board (RTC at `when`, UTC), reached through LocalLink."""

    def __init__(self, when=datetime.datetime(2026, 3, 2, 9, 0), config=None, battery_pct=None):
        self.clock = VirtualClock()
        hw = simboard.build({"clock": self.clock, "plant": Plant(), "storage": FakeStorage(),
                             "rtc": SimRtc(self.clock, wall_s(when))})
        if battery_pct is not None:
            hw.battery.set_percent(battery_pct)
        self.hw = hw
        self.pump = Pump(hw, PumpConfig(config), DrugLibrary.load(LIBRARY), self.clock.ticks_ms())
        self.link = LocalLink(self.pump, self.clock.ticks_ms)

    def factory(self, args, say):
        return self.link

    def run_for(self, ms):
        """Let the pump run `ms` of virtual time (it wakes at its own deadlines)."""
        end = self.clock.t_ms + ms
        while self.clock.t_ms < end:
            deadline = self.pump.tick(self.clock.ticks_ms())
            self.clock.t_ms = min(end, self.clock.t_ms + max(1, ticks_diff(deadline, self.clock.ticks_ms())))


def run_programmer(tmp_path, sim, *argv):
    """(exit code, lines said) of `python -m tools.programmer ARGV --device sim` on `sim`, without a config file."""
    out = []
    argv = ["--config", str(tmp_path / "no-config.json")] + list(argv) + ["--device", "sim"]
    code = programmer.main(argv, say=out.append, link_factory=sim.factory)
    return code, out
