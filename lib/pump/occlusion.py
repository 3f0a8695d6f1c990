"""Occlusion detection from the outlet pressure around each step: a rise per delivered step, not a time limit.

Each wake-up that steps gives two readings (0.1 kPa units, "counts"): `before_step` (the residual: what is left of
the earlier steps once the catheter drained them) and `after_step` (the peak, right after the burst). With the
catheter open the compliance C drains through the catheter resistance R within a few R x C (well under a second), so
the residual sits at the CSF pressure; each step lifts the pressure by J = V_step / C and the next residual is back
down. A blocked catheter keeps every step: the residual climbs by J per step, whatever the rate, so the volume held
back at the alarm is the same at 0.05 mL/day as at 20 mL/day (docs/hydraulics.md has the physics and the numbers).

- J, the jump per step, is measured in the same wake-up (peak - residual, milliseconds apart, so the CSF waveform
  cancels) and averaged over about 32 steps; C = V_step / J needs no calibration.
- level: the residual smoothed (1/64 per residual, each move clipped to 1 kPa), frozen while SUSPECT.
- baseline: follows the level down at once, up by at most drift_kpa_x10_per_day (1 kPa/day): sensor drift and slow
  physiological change, never a blockage building up over minutes or days. It settles on the lowest sustained CSF
  level (lying down), with breathing and pulse averaged out.
- elevation E = residual - baseline; volume held back = E x C = E x V_step / J.

Verdicts: SUSPECT while E >= rise_kpa_x10 (5 kPa, above anything posture, breathing and pulse do) and not confirmed;
OCCLUDED (latched until `rearm`) when
- full: the residuals above it keep rising by at least J/2 per step (and 0.2 kPa): a leaky count of such rises
  reaches `confirm` (a smaller rise takes one off, no rise at all resets it: a blocked line never falls back,
  physiology and noise do), or
- partial: above it with held back >= partial_nl, or at/above ceiling_kpa_x10 absolute (no CSF pressure gets
  there), in `partial_confirm` residuals (a leaky count).

Hot path (`before_step`, `after_step`, `steps_unsampled`): small ints only, no allocation. Readings are clamped to
+-_P_CLAMP counts first, so a faulty sensor cannot push any product past 2**30; implausible readings are the
sensor-fault check's business (pump.sensorfault), not this one's.
"""

from pump.compat import TICKS_MASK, const
from pump.errors import E_RANGE, PumpError

OK = const(0)
SUSPECT = const(1)
OCCLUDED = const(2)
STATE_NAMES = ("ok", "suspect", "occluded")

REASON_NONE = const(0)
REASON_FULL = const(1)  # the residual rose with every step
REASON_PARTIAL = const(2)  # the residual stays high: too much volume held back, or above the ceiling
REASON_NAMES = ("none", "full", "partial")

_P_CLAMP = const(8191)  # counts (819 kPa): far past any sensor span, keeps every product a small int
_N_CLAMP = const(1000)  # steps between two residuals that count (more: treated as this many)
_X = const(10)  # level and baseline kept x1024
_CLIP = const(10240)  # 1 kPa x1024: the largest move one residual makes to the level (times its gain)
_LEVEL_SHIFT = const(6)  # level gain 1/64
_SETTLE_SHIFT = const(2)  # 1/4 while settling (the baseline then equals the level)
_CREDIT_MAX_MS = const(3600000)  # upward baseline credit saved up at most this long
_JUMP_SHIFT = const(8)  # J kept x256
_JUMP_MIN = const(16)  # 1/16 count per step
_JUMP_MAX = const(262143)  # 1024 counts (102 kPa) per step
_JUMP_AVG_SHIFT = const(5)  # J is a 32-step average
_JUMP_ROUND = const(16)
_RISE_MIN = const(2)  # counts: a smaller rise is sensor noise, whatever J is
_TICKS_HALF = const(0x20000000)


def _check(name, v, lo, hi):
    if type(v) is not int or not lo <= v <= hi:
        raise PumpError(E_RANGE, "occlusion.%s: %d..%d" % (name, lo, hi))
    return v


class OcclusionDetector:
    """Verdicts from the residual and peak pressure around each step; see the module docstring.

    nl_per_step: nominal volume of one step. c_nl_per_kpa: first compliance estimate (nL/kPa), replaced by the
    measured J within about 32 steps. rise_kpa_x10: elevation over the baseline physiology never reaches.
    confirm: rising residuals above it for a full occlusion. partial_nl, ceiling_kpa_x10, partial_confirm: a partial
    one. clear_nl: the largest bolus a resume may release (`cleared`). settle: residuals before the baseline is
    settled (it is used from the first one). drift_kpa_x10_per_day: fastest upward baseline drift.
    """

    available = True

    def __init__(self, nl_per_step, c_nl_per_kpa=160, rise_kpa_x10=50, confirm=3, partial_nl=5000,
                 ceiling_kpa_x10=120, partial_confirm=6, clear_nl=1000, settle=8, drift_kpa_x10_per_day=10):
        self.nl_per_step = _check("nl_per_step", nl_per_step, 1, 100000)
        _check("c_nl_per_kpa", c_nl_per_kpa, 1, 1000000)
        self.rise_kpa_x10 = _check("rise_kpa_x10", rise_kpa_x10, 2, 2000)
        self.confirm = _check("confirm", confirm, 1, 100)
        self.partial_nl = _check("partial_nl", partial_nl, 1, 1000000)
        self.ceiling_kpa_x10 = _check("ceiling_kpa_x10", ceiling_kpa_x10, 1, _P_CLAMP)
        self.partial_confirm = _check("partial_confirm", partial_confirm, 1, 1000)
        self.clear_nl = _check("clear_nl", clear_nl, 0, 1000000)
        self.settle = _check("settle", settle, 1, 1000)
        _check("drift_kpa_x10_per_day", drift_kpa_x10_per_day, 1, 10000)
        # cold path from here (big ints allowed): J = V / C in counts per step x256; the partial bound as steps x16
        # held back (held steps x16 = E x 4096 // J x256); ms of upward drift credit per x1024 unit of baseline
        self._jump0 = max(_JUMP_MIN, min(_JUMP_MAX, (nl_per_step * 10 << _JUMP_SHIFT) // c_nl_per_kpa))
        self._partial_steps_x16 = (partial_nl * 16 + nl_per_step - 1) // nl_per_step
        self._ms_per_unit = max(1, 86400000 // (drift_kpa_x10_per_day << _X))
        self.reset()

    def reset(self):
        """Forget the baseline and every verdict (a new catheter, a refill that changed the line): settle again."""
        self.jump_x256 = self._jump0
        self.level_x1024 = 0
        self.base_x1024 = 0
        self.samples = 0  # residuals seen (stops counting at `settle`)
        self._credit_ms = 0
        self._t = 0
        self.rearm()

    def rearm(self):
        """Back to OK after an occlusion was handled (the explicit resume); baseline, level and J are kept."""
        self.state = OK
        self.reason = REASON_NONE
        self.rises = 0
        self.partial = 0
        self.alarm_ticks = 0
        self._res = self.base_x1024 >> _X  # the last residual
        self._res_ok = False  # whether _res is one to measure the next rise and jump from
        self._steps = 0  # steps delivered since the last residual

    def saved(self):
        """(baseline in 0.1 kPa, J x256): what a held occlusion needs to judge a resume after a reset. A baseline at
        or below 0 kPa (a sensor reading around zero) is no CSF level: saved as 0, nothing (the store keeps it
        unsigned), so `restore` settles afresh."""
        base = self.base_x1024 >> _X
        return (base if base > 0 else 0), self.jump_x256

    def restore(self, base_kpa_x10, jump_x256):
        """Take back `saved()` after a reset (0 values: nothing saved, settle afresh)."""
        if 0 < base_kpa_x10 <= _P_CLAMP and _JUMP_MIN <= jump_x256 <= _JUMP_MAX:
            self.base_x1024 = self.level_x1024 = base_kpa_x10 << _X
            self.jump_x256 = jump_x256
            self.samples = self.settle
            self.rearm()

    # ---- hot path ----
    def before_step(self, p_kpa_x10, now):
        """The residual, read in the wake-up just before its steps; updates the verdict in `state`."""
        p = p_kpa_x10
        if p > _P_CLAMP:
            p = _P_CLAMP
        elif p < -_P_CLAMP:
            p = -_P_CLAMP
        n = self._steps
        self._steps = 0
        prev = self._res
        self._res = p
        state = self.state
        if state == OCCLUDED:
            return
        t_prev = self._t
        self._t = now
        if not self.samples:
            self.level_x1024 = self.base_x1024 = p << _X
            t_prev = now
        e = p - (self.base_x1024 >> _X)
        if e >= self.rise_kpa_x10 or p >= self.ceiling_kpa_x10:
            self._evidence(p, e, n, prev, now)
        else:
            if state:
                self.state = OK
                self.rises = 0
                self.partial = 0
            # level: clipped moves, gain 1/64 (1/4 while settling, the baseline then equal to it)
            level = self.level_x1024
            d = (p << _X) - level
            if d > _CLIP:
                d = _CLIP
            elif d < -_CLIP:
                d = -_CLIP
            if self.samples < self.settle:
                self.samples += 1
                self.level_x1024 = self.base_x1024 = level + (d >> _SETTLE_SHIFT)
            else:
                level += d >> _LEVEL_SHIFT
                self.level_x1024 = level
                base = self.base_x1024
                if level <= base:
                    self.base_x1024 = level  # down at once
                else:  # up by the drift credit earned since the last residual, at most to the level
                    dt = (now - t_prev) & TICKS_MASK  # ticks_diff, inline; backwards counts as 0
                    credit = self._credit_ms + (dt if dt < _TICKS_HALF else 0)
                    if credit > _CREDIT_MAX_MS:
                        credit = _CREDIT_MAX_MS
                    up = credit // self._ms_per_unit
                    if up > level - base:
                        up = level - base
                    self._credit_ms = credit - up * self._ms_per_unit
                    self.base_x1024 = base + up
        self._res_ok = True

    def _evidence(self, p, e, n, prev, now):
        if n > _N_CLAMP:
            n = _N_CLAMP
        if self._res_ok and n:
            d = p - prev
            rise = (n * self.jump_x256) >> (_JUMP_SHIFT + 1)  # J/2 per step
            if d >= rise and d >= _RISE_MIN:
                self.rises += 1
            elif d <= 0:
                self.rises = 0  # a blocked line never falls back; physiology and noise do
            elif self.rises:
                self.rises -= 1
        if p >= self.ceiling_kpa_x10 or (e > 0 and (e << 12) // self.jump_x256 >= self._partial_steps_x16):
            self.partial += 1
        elif self.partial:
            self.partial -= 1
        if self.rises >= self.confirm and e >= self.rise_kpa_x10:
            self.reason = REASON_FULL
        elif self.partial >= self.partial_confirm:
            self.reason = REASON_PARTIAL
        else:
            self.state = SUSPECT
            return
        self.state = OCCLUDED
        self.alarm_ticks = now

    def after_step(self, p_kpa_x10, steps, now):
        """The peak, read right after the burst of `steps` steps of the same wake-up; measures J while OK."""
        if not self._steps and not self.state and self._res_ok and 0 < steps <= _N_CLAMP:
            p = p_kpa_x10
            if p > _P_CLAMP:
                p = _P_CLAMP
            elif p < -_P_CLAMP:
                p = -_P_CLAMP
            avg = self.jump_x256
            j = ((p - self._res) << _JUMP_SHIFT) // steps
            if j > avg << 2:
                j = avg << 2  # one stray reading moves the average by at most 3/32 of itself, upwards
            elif j < -(avg << 1):
                j = -(avg << 1)  # or downwards (a wild low peak must not collapse J, inflating C and the back-off)
            j = avg + ((j - avg + _JUMP_ROUND) >> _JUMP_AVG_SHIFT)  # rounded: a floored average would sink
            if j < _JUMP_MIN:
                j = _JUMP_MIN
            elif j > _JUMP_MAX:
                j = _JUMP_MAX
            self.jump_x256 = j
        self._steps += steps

    def steps_unsampled(self, steps):
        """Steps delivered without readings around them (they count towards the next residual's rise)."""
        self._steps += steps

    # ---- verdict (cold path) ----
    @property
    def settled(self):
        return self.samples >= self.settle

    @property
    def baseline_kpa_x10(self):
        return self.base_x1024 >> _X

    def c_nl_per_kpa(self):
        """Compliance estimate from the measured jumps: nL per kPa."""
        return (self.nl_per_step * 10 << _JUMP_SHIFT) // self.jump_x256

    def held_back_nl(self, p_kpa_x10=None):
        """Volume held in the compliance above the baseline at `p_kpa_x10` (default: the last residual), >= 0."""
        p = self._res if p_kpa_x10 is None else p_kpa_x10
        e = p - (self.base_x1024 >> _X)
        if e <= 0:
            return 0
        return (e * self.nl_per_step << _JUMP_SHIFT) // self.jump_x256

    def backoff_steps(self, nl_per_step):
        """Reverse steps of `nl_per_step` nL each that bring the trapped pressure back to the baseline (rounded)."""
        if type(nl_per_step) is not int or nl_per_step <= 0:
            raise PumpError(E_RANGE, "nl_per_step")
        return (self.held_back_nl() + nl_per_step // 2) // nl_per_step

    def cleared(self, p_kpa_x10):
        """True when a resume at pressure `p_kpa_x10` releases at most clear_nl and the pressure is back within half
        the rise threshold of the baseline. It cannot show the blockage is gone: a resume into a line still blocked
        alarms again after the same held-back volume."""
        e = p_kpa_x10 - (self.base_x1024 >> _X)
        return e < self.rise_kpa_x10 // 2 and self.held_back_nl(p_kpa_x10) <= self.clear_nl


class NoSensor:
    """The detector of a board without a pressure role: never alarms, and says so (`available` is False)."""

    available = False
    state = OK
    reason = REASON_NONE
    settled = False

    def before_step(self, p_kpa_x10, now):
        pass

    def after_step(self, p_kpa_x10, steps, now):
        pass

    def steps_unsampled(self, steps):
        pass

    def rearm(self):
        pass

    def reset(self):
        pass

    def held_back_nl(self, p_kpa_x10=None):
        return 0

    def saved(self):
        return 0, 0

    def restore(self, base_kpa_x10, jump_x256):
        pass

    def backoff_steps(self, nl_per_step):
        return 0

    def cleared(self, p_kpa_x10):
        return True


def detector_for(pressure, nl_per_step, **params):
    """An OcclusionDetector when the board has a pressure role (not None), else NoSensor."""
    if pressure is None:
        return NoSensor()
    return OcclusionDetector(nl_per_step, **params)
