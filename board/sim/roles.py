"""Simulated board, the roles of docs/roles.md on the plant: stepper, battery, watchdog, buzzer, LED, stall flag,
encoder and pressure sensor. The plant may carry `jammed` (bool): while set, steps are commanded but the mechanism
does not move."""

import math

from board.sim.plant import SimRng
from pump import battery
from pump.compat import ticks_add, ticks_diff


class SimStepper:
    """STEP/DIR/EN driver on the plant; counts enable cycles and refuses more pulses than a board would take."""

    def __init__(self, plant, max_steps_per_s=500, max_steps_per_call=2000):
        self.plant = plant
        self.max_steps_per_s = max_steps_per_s
        self.max_steps_per_call = max_steps_per_call
        self.enabled = False
        self.enables = 0
        self.calls = 0

    def step_forward(self, n=1):
        if not 0 < n <= self.max_steps_per_call:
            raise ValueError("n")
        self.enabled = True
        self.enables += 1
        self.calls += 1
        self.plant.forward(n)
        self.enabled = False

    def step_reverse(self, n):
        if not 0 < n <= self.max_steps_per_call:
            raise ValueError("n")
        self.plant.reverse(n)

    def disable(self):
        self.enabled = False


class SimBattery:
    """The cell of pump.battery's model: every motor step (either way) draws STEP_NAH and, given the pump clock, the
    fixed daily drain runs on; the reading is the model's rest voltage at that depth of discharge plus reading noise
    (about 2.4 mV rms, deterministic). `fault` injects a sensor fault: "open" (0 mV), "stuck" (the last reading
    forever), "noisy" (±200 mV)."""

    def __init__(self, plant, full_uah=None, clock=None, noise_mv=2, seed=1):
        self.plant = plant
        self.full_uah = full_uah or plant.battery_uah
        self.clock = clock
        self.noise_mv = noise_mv
        self.fault = None
        self.offset_uah = 0  # charge drawn outside the model (a scenario's battery event)
        self.rng = SimRng(seed, raw=True)
        self._last = None

    def set_percent(self, percent):
        """Make the cell read as `percent` % charged from now on (the model's drain continues from there)."""
        self.offset_uah += self.full_uah * (100 - percent) // 100 - self.used_uah()

    def used_uah(self):
        # small ints within a simulated day, as a board's ADC read: whole days, then seconds of the day
        p = self.plant
        used = self.offset_uah + (p.steps_forward + p.steps_reverse) * battery.STEP_NAH // 1000
        if self.clock is not None:
            t_ms = self.clock.t_ms
            days = t_ms // 86400000  # (not divmod: its tuple is an allocation)
            s = (t_ms - days * 86400000) // 1000
            used += battery.FIXED_UAH_PER_DAY * days + battery.FIXED_UAH_PER_DAY * s // 86400
        return used

    def read_mv(self):
        if self.fault == "stuck" and self._last is not None:
            return self._last
        if self.fault == "open":
            return 0
        used = self.used_uah()
        full = self.full_uah
        if full % 4000 == 0 and 0 <= used < 4000000:  # used x 250 stays a small int
            dod_ppm = min(used * 250 // (full // 4000), 1000000)
        else:
            dod_ppm = min(used * 1000000 // full, 1000000)
        k = 200 if self.fault == "noisy" else self.noise_mv
        mv = battery.mv_at(dod_ppm)
        if k:
            rng = self.rng
            mv += rng.int_in(k) + rng.int_in(k) + rng.int_in(k)
        self._last = mv
        return mv


class SimWatchdog:
    """Counts feeds and keeps the longest pump-time gap between them (from start), as a board's timer would see."""

    def __init__(self, clock):
        self.clock = clock
        self.feeds = 0
        self.timeout_ms = 0
        self.longest_gap_ms = 0
        self._last = None

    def start(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self._last = self.clock.ticks_ms()

    def feed(self):
        self.feeds += 1
        now = self.clock.ticks_ms()
        if self._last is not None:
            self.longest_gap_ms = max(self.longest_gap_ms, ticks_diff(now, self._last))
        self._last = now


class SimBuzzer:
    """hw.buzzer: records each change as (t_ms, freq_hz), 0 = off; keeps the last `keep` changes."""

    def __init__(self, clock, keep=4096):
        self.clock = clock
        self.freq_hz = 0
        self.changes = []
        self.tones = 0  # how many times it started sounding
        self._keep = keep

    def _set(self, freq_hz):
        if freq_hz != self.freq_hz:
            self.freq_hz = freq_hz
            self.changes.append((self.clock.t_ms, freq_hz))
            if len(self.changes) > self._keep:
                del self.changes[0]

    def tone(self, freq_hz):
        if not isinstance(freq_hz, int) or not 0 <= freq_hz <= 20000:
            raise ValueError("freq_hz")
        if freq_hz and not self.freq_hz:
            self.tones += 1
        self._set(freq_hz)

    def off(self):
        self._set(0)


class SimLed:
    """hw.led: on/off state and the number of changes."""

    def __init__(self):
        self.lit = False
        self.changes = 0

    def on(self):
        self.changes += not self.lit
        self.lit = True

    def off(self):
        self.changes += self.lit
        self.lit = False


class _Mechanism:
    """Steps the plant took (both ways) since the last look, and whether it was jammed then."""

    def __init__(self, plant):
        self.plant = plant
        self._seen = plant.steps_forward + plant.steps_reverse
        self.jammed = False

    def new_steps(self):
        """Steps since the last look; `jammed` tells whether the plant was jammed (no tuple: allocation-free)."""
        p = self.plant
        total = p.steps_forward + p.steps_reverse
        n = total - self._seen
        self._seen = total
        self.jammed = getattr(p, "jammed", False)
        return n


class SimEncoder:
    """hw.encoder: counts_per_step counts per motor step the mechanism really made; wraps at 2**30 like a board's."""

    def __init__(self, plant, counts_per_step=1):
        self.counts_per_step = counts_per_step
        self._mech = _Mechanism(plant)
        self._count = 0

    def count(self):
        n = self._mech.new_steps()
        if not self._mech.jammed:
            self._count = ticks_add(self._count, n * self.counts_per_step)  # wraps without leaving small ints
        return self._count


class SimStall:
    """hw.stall: the TMC2209 DIAG flag: set when steps were commanded while the plant was jammed."""

    def __init__(self, plant):
        self._mech = _Mechanism(plant)

    def triggered(self):
        n = self._mech.new_steps()
        return bool(n and self._mech.jammed)


def quantise_kpa_x10(p_kpa, lsb_kpa):
    """The sensor's conversion to lsb_kpa steps, then the role's 0.1 kPa unit, both rounding down."""
    return int(math.floor(math.floor(p_kpa / lsb_kpa) * lsb_kpa * 10.0))  # noqa: RUF046 - an int on every port


class SimPressure:
    """hw.pressure on the hydraulics: an ABP2-class 0-100 kPa gauge sensor read as 0.1 kPa units.

    Reading = floor to 0.1 kPa of (true P + noise_kpa x gaussish), quantised first to lsb_kpa (a 12-bit conversion
    across 0-100 kPa) and limited to the sensor's output range. `fault`: None, "stuck" (the last value again), "open"
    (the 0 V rail: -12.5 kPa through the Pico W scaling), "open_high" (the supply rail: 112.5 kPa), "noisy"
    (noise x 20), "out_of_range" (an impossible value).
    """

    FAULTS = (None, "stuck", "open", "open_high", "noisy", "out_of_range")
    RAIL_LOW_KPA_X10 = -125
    RAIL_HIGH_KPA_X10 = 1125
    OUT_OF_RANGE_KPA_X10 = 20000

    def __init__(self, hydraulics, seed=1, noise_kpa=0.05, lsb_kpa=100.0 / 4096, lo_kpa=-2.5, hi_kpa=102.5):
        self.h = hydraulics
        self.rng = SimRng(seed ^ 0x5A5A)
        self.noise_kpa = noise_kpa
        self.lsb_kpa = lsb_kpa
        self.lo_kpa = lo_kpa
        self.hi_kpa = hi_kpa
        self.fault = None
        self.reads = 0
        self._last = None

    def set_fault(self, fault):
        if fault not in self.FAULTS:
            raise ValueError("fault")
        self.fault = fault

    def read_kpa_x10(self):
        self.reads += 1
        fault = self.fault
        if fault is not None:
            if fault == "stuck" and self._last is not None:
                return self._last
            if fault == "open":
                return self.RAIL_LOW_KPA_X10
            if fault == "open_high":
                return self.RAIL_HIGH_KPA_X10
            if fault == "out_of_range":
                return self.OUT_OF_RANGE_KPA_X10
        sigma = self.noise_kpa * 20 if fault == "noisy" else self.noise_kpa
        p = self.h.pressure_kpa() + sigma * self.rng.gaussish()
        if p < self.lo_kpa:
            p = self.lo_kpa
        elif p > self.hi_kpa:
            p = self.hi_kpa
        v = quantise_kpa_x10(p, self.lsb_kpa)
        self._last = v
        return v
