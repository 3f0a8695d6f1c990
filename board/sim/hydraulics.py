"""Simulated board, hydraulics: pump chamber, catheter and CSF (docs/hydraulics.md). Optional:
`Hydraulics(clock).attach(plant)` makes plant.delivered_nl count what left the catheter tip (the volume still held in
the compliance is not delivered), and the board then gets a `SimPressure` role (board.sim.roles)."""

import math

from board.sim.plant import SimRng

HYD_OPEN = 0
HYD_OCCLUDED = 1  # downstream, full: nothing flows, the pressure holds
HYD_PARTIAL = 2  # the catheter resistance times `factor`
HYD_CLEARED = 3  # open again after an occlusion (behaves as open)
HYD_STATE_NAMES = ("open", "occluded", "partial", "cleared")
_TWO_PI = 6.283185307179586


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
