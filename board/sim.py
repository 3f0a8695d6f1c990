"""Simulated board: every role of docs/roles.md backed by a plant model; runs on CPython and the MicroPython unix port.

The plant is the physical truth the firmware cannot see directly: the volume each step really moves, the drug really
left in the reservoir, what reached the patient, and the battery. Two clocks: `VirtualClock` is advanced by the
discrete-event simulator (tools/sim.py); `ScaledClock` runs pump time faster than real time under asyncio (make run).
"""

import math
import sys
import time

from board.drivers import Hardware
from board.simflash import FakeStorage
from pump import battery
from pump.compat import TICKS_MASK, ticks_add, ticks_diff
from pump.config import RESET_POWER_ON, PumpConfig

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio  # pyright: ignore[reportMissingImports]

_START_TICKS = TICKS_MASK - 3600000  # ticks wrap one hour into every run: wrap bugs show at once
_EPOCH_2026_S = 838857600  # 2026-08-01 00:00 UTC in seconds since 2000-01-01
_USE_TICKS = sys.implementation.name == "micropython"


def _real_ms():
    if _USE_TICKS:
        return time.ticks_ms()  # type: ignore[attr-defined]
    return time.monotonic_ns() // 1000000  # type: ignore[attr-defined]


def _real_elapsed_ms(start):
    if _USE_TICKS:
        return time.ticks_diff(time.ticks_ms(), start)  # type: ignore[attr-defined]
    return _real_ms() - start


async def _real_sleep_ms(ms):
    if _USE_TICKS:
        await asyncio.sleep_ms(ms)  # type: ignore[attr-defined]
    else:
        await asyncio.sleep(ms / 1000)


class VirtualClock:
    """Pump time set by a simulator: `t_ms` counts from 0 without bound, `ticks_ms()` wraps like a board's."""

    def __init__(self, start_ticks=_START_TICKS):
        self.t_ms = 0
        self.start_ticks = start_ticks
        self._pending = []  # wake times of the tasks sleeping in virtual time

    def ticks_ms(self):
        # small ints all the way, as a board's ticks_ms(): start + t would pass 2**30 and allocate on 32-bit ports
        return ticks_add(self.start_ticks, self.t_ms & TICKS_MASK)

    async def sleep_ms(self, ms):
        """Sleep in virtual time: only the earliest pending sleeper moves the clock, so concurrent sleeps overlap."""
        target = self.t_ms + max(ms, 0)  # a zero sleep holds the clock too: this task is runnable now
        pending = self._pending
        pending.append(target)
        try:
            await asyncio.sleep(0)  # tasks asleep from the same instant register their wake times first
            settled = False
            while self.t_ms < target:
                if target > min(pending):
                    settled = False
                    await asyncio.sleep(0)
                elif not settled:  # one more round: a task started in the meantime registers its wake time first
                    settled = True
                    await asyncio.sleep(0)
                else:
                    self.t_ms = target
        finally:
            pending.remove(target)


class ScaledClock:
    """Pump time running `speed` times faster than real time."""

    def __init__(self, speed=1, start_ticks=_START_TICKS):
        self.speed = speed
        self.start_ticks = start_ticks
        self._real0 = _real_ms()

    @property
    def t_ms(self):
        return _real_elapsed_ms(self._real0) * self.speed

    def ticks_ms(self):
        return ticks_add(self.start_ticks, self.t_ms & TICKS_MASK)

    async def sleep_ms(self, ms):
        await _real_sleep_ms(max(ms, 0) // self.speed)


class SimRtc:
    """Battery-backed wall clock (ms since 2000-01-01) derived from the pump clock; it survives simulated resets."""

    def __init__(self, clock, wall_s=_EPOCH_2026_S):
        self.clock = clock
        self.offset_ms = wall_s * 1000

    def now_ms(self):
        return self.offset_ms + self.clock.t_ms

    def set_ms(self, ms):
        self.offset_ms = ms - self.clock.t_ms


class Line:
    """What a catheter line holds, tip first: the strength (ug/mL) and volume (nL) of each drug in turn. `out_to`
    moves the tip: the oldest drug leaves first and its mass is counted exactly (whole ng in `ng`, the pg below in
    `pg`); a volume that flows back in and out again counts once (the tip follows the most that has ever left)."""

    def __init__(self, conc_ug_per_ml, nl):
        self.conc = [conc_ug_per_ml]  # from index `tip` on (grown only by a refill with a new strength)
        self.nl = [nl]
        self.tip = 0
        self.out_nl = 0  # the most volume that has left the tip so far
        self.ng = 0
        self.pg = 0

    @property
    def mass_pg(self):
        return self.ng * 1000 + self.pg

    def push(self, nl, conc_ug_per_ml):
        """`nl` of the reservoir's drug enters at the reservoir's end."""
        last = len(self.nl) - 1
        if self.conc[last] == conc_ug_per_ml:
            self.nl[last] += nl
        else:  # the first step after a refill with a new strength
            self.conc.append(conc_ug_per_ml)
            self.nl.append(nl)

    def out_to(self, out_nl):
        """The volume that has left the tip so far is `out_nl`: the oldest drug goes first."""
        out = out_nl - self.out_nl
        if out <= 0:
            return
        self.out_nl = out_nl
        vols = self.nl
        concs = self.conc
        i = self.tip
        last = len(vols) - 1
        pg = self.pg
        while out > vols[i] and i < last:
            v = max(vols[i], 0)
            pg += v * concs[i]
            out -= v
            vols[i] = 0
            i += 1
        vols[i] -= out  # below 0 only at the reservoir's end, when more left the tip than went in: owed
        pg += out * concs[i]
        self.tip = i
        if pg >= 1000:
            ng = pg // 1000
            self.ng += ng
            pg -= ng * 1000
        self.pg = pg

    def peek_pg(self, nl):
        """The drug mass in the next `nl` to leave the tip (pg), the line unchanged (beyond it: the last drug's)."""
        pg = 0
        i = self.tip
        last = len(self.nl) - 1
        while nl > 0:
            v = nl if i == last else min(max(self.nl[i], 0), nl)
            pg += v * self.conc[i]
            nl -= v
            i += 1
        return pg

    def draw_back(self, nl):
        """`nl` drawn back into the reservoir from the line's reservoir end (the occlusion back-off)."""
        vols = self.nl
        i = len(vols) - 1
        while i > self.tip:
            take = min(nl, max(vols[i], 0))
            vols[i] -= take
            nl -= take
            if not nl:
                return
            i -= 1
        vols[i] -= nl

    def refilled(self, conc_ug_per_ml, first):
        """A refill: `first` when the plant never held drug (the line was primed with this one); what has left the
        tip is dropped (cold path)."""
        if first:
            self.conc = [conc_ug_per_ml if c == 0 else c for c in self.conc]
        self.conc = self.conc[self.tip:]
        self.nl = self.nl[self.tip:]
        self.tip = 0


class Plant:
    """Physical truth: true volume per step, drug in the reservoir, the drugs in the catheter line, volume and drug
    mass delivered, battery charge.

    The line is what the catheter really holds, tip first: each forward step's true volume enters it with the
    reservoir's strength and the oldest drug leaves at the tip as the volume delivered grows, so `delivered_ng` is
    the drug mass that reached the patient (drug that flows back in with a CSF wave and out again counts once). A
    plant that never held drug has its line primed with its first fill's drug, as the firmware assumes. A refill
    empties the reservoir before the new drug goes in; what the occlusion back-off draws back leaves the line at
    the reservoir's end.

    `rigid` is the same line read as if it were rigid: its tip moves with the volume the mechanism moves (forward
    minus the back-off), at once, so `pushed_pg` is the dose the mechanism drove out of the tip, without the few
    hundred nL the line's compliance holds back and releases as the CSF pressure moves (tools/soak.py judges doses
    by it)."""

    def __init__(self, nl_per_step=200, fill_ul=0, battery_mah=2000, step_uah=2, idle_ua=10, conc_ug_per_ml=0,
                 catheter_ul=0):
        self.nl_per_step = nl_per_step  # what one step really moves (calibration may differ)
        self.reservoir_nl = fill_ul * 1000
        self.conc_ug_per_ml = conc_ug_per_ml  # the reservoir's drug
        self.line = Line(conc_ug_per_ml, catheter_ul * 1000)
        self.rigid = Line(conc_ug_per_ml, catheter_ul * 1000)
        self.pushed_nl = 0  # net volume the mechanism moved into the line
        self.delivered_nl = 0
        self.steps_forward = 0
        self.steps_reverse = 0
        self.jammed = False
        self.battery_uah = battery_mah * 1000
        self.step_uah = step_uah
        self.idle_ua = idle_ua
        self.hydraulics = None  # a Hydraulics once attached: delivered_nl then counts what left the catheter

    def forward(self, n):
        self.steps_forward += n
        self.battery_uah -= n * self.step_uah
        if self.jammed:
            return  # a stalled mechanism: the coils pulse, nothing moves
        moved = min(n * self.nl_per_step, self.reservoir_nl)  # an empty reservoir pumps nothing
        self.reservoir_nl -= moved
        self.line.push(moved, self.conc_ug_per_ml)
        self.rigid.push(moved, self.conc_ug_per_ml)
        self.pushed_nl += moved
        self.rigid.out_to(self.pushed_nl)
        if self.hydraulics is None:
            self.reached(self.delivered_nl + moved)
        else:
            self.hydraulics.pump_nl(moved)  # the line's outflow follows through reached()

    def reached(self, delivered_nl):
        """The volume that has left the catheter tip so far is `delivered_nl`: the line's oldest drug goes first."""
        self.delivered_nl = delivered_nl
        self.line.out_to(delivered_nl)

    @property
    def delivered_ng(self):
        """Drug mass that left the tip, whole ng (the pg below in `line.pg`)."""
        return self.line.ng

    @property
    def delivered_ug(self):
        """Drug mass that left the tip, ug."""
        return self.line.ng / 1000 + self.line.pg / 1000000

    @property
    def pushed_pg(self):
        """Drug mass the mechanism drove out of the tip (the rigid line), pg."""
        return self.rigid.mass_pg

    def reverse(self, n):
        """n steps backwards (the occlusion back-off); with hydraulics the volume returns to the reservoir."""
        self.steps_reverse += n
        if self.hydraulics is not None:
            back = n * self.nl_per_step
            self.hydraulics.withdraw_nl(back)
            self.reservoir_nl += back
            self.line.draw_back(back)
            self.rigid.draw_back(back)
            self.pushed_nl -= back

    def refill(self, fill_ul, conc_ug_per_ml=0):
        """A new fill; `conc_ug_per_ml` (0: the same drug) is its strength."""
        self.reservoir_nl = fill_ul * 1000
        first = False
        if conc_ug_per_ml:
            first = not self.conc_ug_per_ml  # never held drug: the line was primed with this one
            self.conc_ug_per_ml = conc_ug_per_ml
        self.line.refilled(self.conc_ug_per_ml, first)
        self.rigid.refilled(self.conc_ug_per_ml, first)


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
        self._rng = seed or 1
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

    def _uniform(self, k):  # xorshift32: an int in -k..k
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return x % (2 * k + 1) - k

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
            mv += self._uniform(k) + self._uniform(k) + self._uniform(k)
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


class SimHardware(Hardware):
    """Hardware with the plant and the simulator's knobs attached."""

    def __init__(self, clock, plant, storage, rtc, pump_config, library_path, setup, run_for_ms):
        super().__init__(
            "sim", "5e4d000000000001", clock, rtc, SimStepper(plant), storage, SimBattery(plant, clock=clock), None,
            SimWatchdog(clock), RESET_POWER_ON, self._request_reset)
        self.plant = plant
        self.pump_config = pump_config
        self.library_path = library_path
        self.setup = setup  # first-boot fill and prescription (the sim's clinician)
        self.run_for_ms = run_for_ms
        self.reset_requested = False

    def _request_reset(self):
        self.reset_requested = True


DEMO_SETUP = {
    "fill_ul": 20000,
    "prescription": {
        "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {
            "mode": "flex",
            "steps": [{"start": "00:00", "dose_ug_per_day": 4000}, {"start": "08:00", "dose_ug_per_day": 6000}],
        },
        "patient_bolus": {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4},
    },
}


DEMO_CONC_UG_PER_ML = DEMO_SETUP["prescription"]["drug"]["concentration_ug_per_ml"]


def _env_int(name, default):
    import os

    getenv = getattr(os, "getenv", None)  # ports without an environment (webassembly) have none
    v = getenv(name) if getenv is not None else None
    return int(v) if v else default


def build(config=None):
    """The simulated board; `config` may hold clock, plant, storage, pump_config, setup, speed, days, library_path.

    Without config (make run) it reads PUMP_SPEED and PUMP_DAYS from the environment and uses the demo set-up.
    """
    config = config or {}
    speed = config.get("speed") or _env_int("PUMP_SPEED", 3600)
    days = config.get("days") or _env_int("PUMP_DAYS", 0)
    clock = config.get("clock") or ScaledClock(speed)
    plant = config.get("plant")
    if plant is None:  # make run: the demo pump, with catheter hydraulics so the pressure sensor has a line to watch
        plant = Plant(fill_ul=DEMO_SETUP["fill_ul"], conc_ug_per_ml=DEMO_CONC_UG_PER_ML,
                      catheter_ul=PumpConfig(config.get("pump_config")).catheter_volume_ul)
        Hydraulics(clock).attach(plant)
    hw = SimHardware(
        clock,
        plant,
        config.get("storage") or FakeStorage(),
        config.get("rtc") or SimRtc(clock),
        config.get("pump_config"),
        config.get("library_path", "lib/druglib.json"),
        config.get("setup", DEMO_SETUP),
        days * 86400000 if days else None,
    )
    add_alarm_io(hw, config)
    add_pressure(hw, config)
    add_ble(hw, config)
    return hw


def add_ble(hw, config):
    """hw.ble and hw.bluetooth only when config gives them (a fake radio, or the Bumble shim's BLE and module);
    config "keys_path" for command keys (none by default), "urandom" (default os.urandom, looked up only when the
    radio is given: the webassembly port has none) for pairing passkeys."""
    hw.ble = config.get("ble")
    hw.bluetooth = config.get("bluetooth")
    hw.keys_path = config.get("keys_path")
    hw.urandom = config.get("urandom")
    if hw.urandom is None and hw.ble is not None:
        import os

        hw.urandom = os.urandom


# --- alarm I/O and mechanism sensing (docs/roles.md: buzzer, led, stall, encoder) -------------------------------------
# The plant may carry `jammed` (bool): while set, steps are commanded but the mechanism does not move.


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


def add_alarm_io(hw, config):
    """Attach the sim's buzzer, LED, stall flag and encoder to `hw`; config keys `encoder_counts_per_step` (default
    1, 0: no encoder) and `stall_diag` (default True) leave a role out."""
    hw.buzzer = SimBuzzer(hw.clock)
    hw.led = SimLed()
    cps = config.get("encoder_counts_per_step", 1)
    hw.encoder = SimEncoder(hw.plant, cps) if cps else None
    hw.stall = SimStall(hw.plant) if config.get("stall_diag", True) else None


# --- hydraulics: pump chamber, catheter and CSF, and the outlet pressure sensor (docs/hydraulics.md) ------------------
# Optional: `Hydraulics(clock).attach(plant)` makes plant.delivered_nl count what left the catheter tip (the volume
# still held in the compliance is not delivered), and `build` then gives the board a `SimPressure` role.

HYD_OPEN = 0
HYD_OCCLUDED = 1  # downstream, full: nothing flows, the pressure holds
HYD_PARTIAL = 2  # the catheter resistance times `factor`
HYD_CLEARED = 3  # open again after an occlusion (behaves as open)
HYD_STATE_NAMES = ("open", "occluded", "partial", "cleared")
_TWO_PI = 6.283185307179586


class SimRng:
    """xorshift32 from a seed: the same numbers on CPython and on the MicroPython unix port."""

    def __init__(self, seed=1):
        x = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
        self.x = x or 1
        for _ in range(4):
            self.next()

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def uniform(self):
        """In [0, 1)."""
        return self.next() / 4294967296.0

    def gaussish(self):
        """Mean 0, sigma 1: the sum of the four bytes of one draw (Irwin-Hall, bounded at +-3.46 sigma)."""
        x = self.next()
        return ((x & 255) + (x >> 8 & 255) + (x >> 16 & 255) + (x >> 24) - 510) * 0.006766


class Hydraulics:
    """Compliance C (pump chamber, tubing, catheter wall) draining through the catheter resistance R into the CSF.

    Pressures in kPa (gauge, at the pump outlet), volumes in nL, time from `clock.t_ms`; floats, analytic between
    events, so a year costs one update per step. The CSF pressure P_csf(t) = p_csf_kpa + posture episodes
    + respiratory and cardiac waves (each with a slowly wandering phase), all from `seed`.

    - open: P = P_seen(t) + e, where P_seen is P_csf seen through the catheter (each wave low-pass filtered with
      tau = R x C) and e, the excess of the volume held in the compliance, decays as exp(-dt / tau): the flow
      (P - P_csf) / R reaches the patient. Posture passes unfiltered (it changes over seconds).
    - occluded (full, downstream): no flow and no CSF wave; P holds, each step adds V / C.
    - partial: as open with R x factor (tau and the wave filtering follow).
    Volume is conserved exactly: delivered = pumped - C x (P - P at the start).
    """

    def __init__(self, clock, c_ul_per_kpa=0.16, r_kpa_s_per_ul=0.32, p_csf_kpa=1.2, resp_kpa=0.25,
                 resp_period_s=4.0, cardiac_kpa=0.2, cardiac_period_s=0.9, postures_per_day=8.0,
                 posture_kpa=(1.0, 3.5), posture_min=(2.0, 90.0), posture_ramp_s=5.0, seed=1):
        if c_ul_per_kpa <= 0 or r_kpa_s_per_ul <= 0:
            raise ValueError("c_ul_per_kpa, r_kpa_s_per_ul")
        self.clock = clock
        self.c_nl_per_kpa = c_ul_per_kpa * 1000.0
        self.r_kpa_s_per_ul = r_kpa_s_per_ul
        self.p_csf_kpa = p_csf_kpa
        self.rng = SimRng(seed)
        rng = self.rng
        # waves: (amplitude kPa, rad/s, phase, phase-wander depth rad, phase-wander rad/s)
        self._waves = (
            (resp_kpa, _TWO_PI / resp_period_s, _TWO_PI * rng.uniform(), 3.0, _TWO_PI / (47.0 + 20 * rng.uniform())),
            (cardiac_kpa, _TWO_PI / cardiac_period_s, _TWO_PI * rng.uniform(), 2.0,
             _TWO_PI / (23.0 + 10 * rng.uniform())),
        )
        self._gains = [0.0, 0.0, 0.0, 0.0]  # per wave: gain, lag (set by _set_tau)
        self._pos_gap_s = 86400.0 / postures_per_day if postures_per_day > 0 else 0.0
        self._pos_kpa = posture_kpa
        self._pos_s = (posture_min[0] * 60.0, posture_min[1] * 60.0)
        self.ramp_s = posture_ramp_s
        self._pos_start = self._pos_end = 0.0
        self._pos_amp = 0.0
        self.postures = 0  # posture episodes begun so far
        self.state = HYD_OPEN
        self.factor = 1.0
        self.occlusions = 0
        self.clears = 0
        self.last_clear_excess_nl = 0.0  # volume above the CSF pressure when the last occlusion cleared: its bolus
        self._plant = None
        self._delivered0 = 0
        self._next_posture(0.0)
        self._set_tau()
        self._t_ms = clock.t_ms
        self._pt_ms = -1  # P_seen cache: time and value
        self._pv = 0.0
        self._e = 0.0  # P - P_seen (open, partial)
        self._hold = 0.0  # P (occluded)
        self.pumped_nl = 0  # net volume the mechanism pushed in (forward minus reverse)
        self._p0 = self._seen(self._t_ms)

    def attach(self, plant):
        """Route the plant's steps through this model; plant.delivered_nl then counts what reached the patient."""
        self._plant = plant
        self._delivered0 = plant.delivered_nl
        plant.hydraulics = self
        return self

    # ---- CSF pressure ----
    def _next_posture(self, after_s):
        rng = self.rng
        if not self._pos_gap_s:
            self._pos_start = self._pos_end = 1e30
            return
        self._pos_start = after_s - self._pos_gap_s * math.log(1.0 - rng.uniform())
        lo, hi = self._pos_s
        dur = lo + (hi - lo) * rng.uniform()
        self._pos_end = self._pos_start + max(dur, 2 * self.ramp_s)
        lo, hi = self._pos_kpa
        self._pos_amp = lo + (hi - lo) * rng.uniform()
        self.postures += 1

    def posture_episodes(self, until_s):
        """The current posture episode and every later one starting before until_s: [(start_s, end_s, kPa)]; the
        model goes on from the last one (for evaluating many instants at once; time never goes backwards)."""
        out = [(self._pos_start, self._pos_end, self._pos_amp)]
        while self._pos_end < until_s:
            self._next_posture(self._pos_end)
            out.append((self._pos_start, self._pos_end, self._pos_amp))
        return out

    def posture_kpa(self, t_s):
        """The posture part of P_csf at t_s: raised-cosine ramps of ramp_s at both ends of each episode."""
        while t_s >= self._pos_end:
            self._next_posture(self._pos_end)
        s = self._pos_start
        if t_s <= s:
            return 0.0
        r = self.ramp_s
        if t_s < s + r:
            return self._pos_amp * 0.5 * (1.0 - math.cos(math.pi * (t_s - s) / r))
        end = self._pos_end
        if t_s > end - r:
            return self._pos_amp * 0.5 * (1.0 - math.cos(math.pi * (end - t_s) / r))
        return self._pos_amp

    def wave_kpa(self, t_s, m=math, filtered=True):
        """Respiratory + cardiac waves at t_s; filtered: as the chamber sees them through the catheter (gain and lag
        of a first-order low-pass with tau; none while occluded). `m` is math, or numpy with an array of t_s."""
        p = 0.0
        g = self._gains
        for i in range(2):
            amp, w, ph, depth, wm = self._waves[i]
            gain, lag = (g[2 * i], g[2 * i + 1]) if filtered else (1.0, 0.0)
            if gain:
                p = p + gain * amp * m.sin(w * t_s + ph + depth * m.sin(wm * t_s) - lag)
        return p

    def p_csf_kpa_at(self, t_ms):
        """The CSF pressure itself (unfiltered) at t_ms."""
        t = t_ms / 1000.0
        return self.p_csf_kpa + self.posture_kpa(t) + self.wave_kpa(t, math, False)

    def _seen(self, t_ms):
        """P_csf as the pump chamber sees it through the catheter, cached per t_ms."""
        if t_ms != self._pt_ms:
            t = t_ms / 1000.0
            self._pv = self.p_csf_kpa + self.posture_kpa(t) + self.wave_kpa(t)
            self._pt_ms = t_ms
        return self._pv

    def _set_tau(self):
        self.tau_s = self.r_kpa_s_per_ul * self.factor * self.c_nl_per_kpa / 1000.0
        g = self._gains
        for i in range(2):
            w = self._waves[i][1]
            wt = w * self.tau_s
            if self.state == HYD_OCCLUDED:
                g[2 * i] = 0.0
            else:
                g[2 * i] = 1.0 / math.sqrt(1.0 + wt * wt)
            g[2 * i + 1] = math.atan(wt)
        self._pt_ms = -1

    # ---- state ----
    def _advance(self, t_ms):
        dt = t_ms - self._t_ms
        if dt > 0:
            self._t_ms = t_ms
            if self.state != HYD_OCCLUDED and self._e:
                x = dt / (1000.0 * self.tau_s)
                self._e = self._e * math.exp(-x) if x < 60.0 else 0.0  # noqa: PLR2004 - e**-60: nothing left

    def _pressure(self, t_ms):
        self._advance(t_ms)
        if self.state == HYD_OCCLUDED:
            return self._hold
        return self._seen(t_ms) + self._e

    def pressure_kpa(self):
        """The true outlet pressure now (kPa)."""
        p = self._pressure(self.clock.t_ms)
        if self._plant is not None:
            self._plant.reached(self._delivered0 + int(self.pumped_nl - self.c_nl_per_kpa * (p - self._p0)))
        return p

    def advance(self):
        """Bring the model (and plant.delivered_nl) up to the clock; reading `pressure_kpa` does the same."""
        self.pressure_kpa()

    def excess_nl(self):
        """Volume held in the compliance above the CSF pressure now (what an open line would still deliver); while
        occluded, above the CSF level without its waves."""
        t = self.clock.t_ms
        if self.state == HYD_OCCLUDED:
            return self.c_nl_per_kpa * (self._hold - self.p_csf_kpa - self.posture_kpa(t / 1000.0))
        self._advance(t)
        return self.c_nl_per_kpa * self._e

    def delivered_nl(self):
        """Volume that left the catheter tip since this model started (nL, float)."""
        return self.pumped_nl - self.c_nl_per_kpa * (self._pressure(self.clock.t_ms) - self._p0)

    def _set_state(self, state, factor):
        t = self.clock.t_ms
        p = self._pressure(t)
        old = self.state
        self.state = state
        self.factor = factor
        self._set_tau()
        if state == HYD_OCCLUDED:
            self._hold = p
            if old != HYD_OCCLUDED:
                self.occlusions += 1
        else:
            self._e = p - self._seen(t)
        self.advance()

    def occlude(self):
        """Full occlusion from now: nothing flows, the pressure holds what is trapped."""
        self._set_state(HYD_OCCLUDED, 1.0)

    def partial(self, factor):
        """Partial occlusion from now: the catheter resistance times `factor` (> 1)."""
        self._set_state(HYD_PARTIAL, float(factor))

    def clear(self):
        """The line is open again (state cleared); returns the volume above the CSF pressure that this releases to
        the patient (nL: the bolus; negative when the back-off left the chamber below the CSF pressure)."""
        if self.state in (HYD_OPEN, HYD_CLEARED):
            return 0.0
        self._set_state(HYD_CLEARED, 1.0)
        self.clears += 1
        self.last_clear_excess_nl = self._e * self.c_nl_per_kpa
        return self.last_clear_excess_nl

    # ---- the mechanism ----
    def pump_nl(self, nl):
        """`nl` pushed in by forward steps now."""
        self._inject(nl)

    def withdraw_nl(self, nl):
        """`nl` drawn back by reverse steps now (the occlusion back-off)."""
        self._inject(-nl)

    def _inject(self, nl):
        self._advance(self.clock.t_ms)
        dp = nl / self.c_nl_per_kpa
        if self.state == HYD_OCCLUDED:
            self._hold += dp
        else:
            self._e += dp
        self.pumped_nl += nl
        if self._plant is not None:
            self.advance()


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


def add_pressure(hw, config):
    """hw.pressure: config["pressure"] if given (None: no sensor), else a SimPressure on plant.hydraulics when the
    plant has one (seed from config["pressure_seed"], default 1), else None."""
    if "pressure" in config:
        hw.pressure = config["pressure"]
    elif getattr(hw.plant, "hydraulics", None) is not None:
        hw.pressure = SimPressure(hw.plant.hydraulics, config.get("pressure_seed", 1))
    else:
        hw.pressure = None
