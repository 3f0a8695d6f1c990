"""A Pump on the simulated board with a virtual clock, driven event by event like the app's dosing task (`Rig`), and
the prescriptions the rigs program (`rx`, `PB`).

Ticks start an hour before the 2**30 wrap; the wall clock on Monday 2026-08-03, 08:00; the drug library is the tests'
(support/druglib.py) unless a test passes another. The rig's own program is sent with the battery check confirmed:
many tests run rates no cell could keep for 90 days (host_tests/safety/test_battery_forecast.py tests that check).
"""

from board.sim import build
from board.sim.clock import SimRtc, VirtualClock
from board.sim.plant import Plant
from pump.compat import TICKS_MASK, ticks_diff
from pump.config import PumpConfig
from pump.controller import Pump
from support.druglib import LIB
from support.flash import FakeStorage

MONDAY_S = 839030400  # 2026-08-03 00:00 (a Monday), seconds since 2000-01-01

PB = {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}


def rx(dose_ug=4000, conc=10000, drug="morphine", **extra):
    doc = {
        "drug": {"name": drug, "concentration_ug_per_ml": conc},
        "therapy": {"mode": "constant", "dose_ug_per_day": dose_ug},
    }
    for k in extra:
        doc[k] = extra[k]
    return doc


class Rig:
    """A Pump on the simulated board; `run(ms)` wakes at every deadline; every step's time (clock.t_ms) is recorded."""

    def __init__(self, pump_config=None, wall_s=MONDAY_S + 8 * 3600, storage=None, fill_ul=None, prescription=None,
                 start_ticks=TICKS_MASK - 3600000, library=LIB, board=None):
        self.library = library  # the drug library of every boot (None: none loaded)
        self.board = board or {}  # more of the simulated board's settings (board.sim.build), e.g. stall_diag
        self.clock = VirtualClock(start_ticks)
        self.storage = storage if storage is not None else FakeStorage()
        self.pump_config = pump_config
        self.cfg = PumpConfig(pump_config)
        self.plant = Plant(nl_per_step=self.cfg.nl_per_step, catheter_ul=self.cfg.catheter_volume_ul)
        self.rtc = SimRtc(self.clock, wall_s)
        self.step_times = []
        self.wakes = 0
        self.boot()
        if fill_ul:
            conc = prescription["drug"]["concentration_ug_per_ml"] if prescription else 10000
            self.pump.refill(fill_ul, conc)
            self.plant.refill(fill_ul, conc)
        if prescription:
            self.pump.program(prescription, confirm_battery=True)

    def boot(self):
        """(Re)build the hardware and the Pump from the same storage, clock, RTC and plant: a reset."""
        self.hw = build(dict(self.board, clock=self.clock, plant=self.plant, storage=self.storage, rtc=self.rtc))
        self.pump = Pump(self.hw, self.cfg, self.library)
        self.pump._step = self._record
        return self.pump

    def _record(self, n):
        self.hw.stepper.step_forward(n)
        t = self.clock.t_ms
        for _ in range(n):
            self.step_times.append(t)

    @property
    def now(self):
        return self.clock.ticks_ms()

    def run(self, ms):
        end = self.clock.t_ms + ms
        pump = self.pump
        while True:
            wait = ticks_diff(pump.plan.next_deadline(), self.clock.ticks_ms())
            if wait < 0:
                wait = 0
            if self.clock.t_ms + wait > end:
                self.clock.t_ms = end
                return
            self.clock.t_ms += wait
            pump.tick(self.clock.ticks_ms())
            self.wakes += 1

    def refill(self, fill_ul, conc=None):
        """A clinician's refill: the pump's command at the rig's time, then the same drug into the plant."""
        self.pump.refill(fill_ul, conc, now=self.now)
        self.plant.refill(fill_ul, self.pump.plan.conc_ug_per_ml)

    def steps_in(self, t0, t1):
        return len([t for t in self.step_times if t0 < t <= t1])

    def events(self):
        return [(r[2], r[3], r[4]) for r in self.pump.log.read()]

    def blobs(self, *prefixes):
        out = {}
        for name in self.storage.blobs:
            for p in prefixes:
                if name.startswith(p):
                    out[name] = bytes(self.storage.blobs[name])
        return out


def break_dose_engine(pump, factor=None, runaway=False):
    """Break the dose engine: every due step becomes `factor` steps, or every wake takes the whole burst allowed."""
    plan = pump.plan
    take_due = plan.take_due

    def buggy(now, limit):
        n = take_due(now, limit)
        if runaway:
            return limit
        return min(limit, n * factor)

    plan.take_due = buggy
