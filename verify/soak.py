"""Long soak: years of pump life in the simulator with random resets, refills, boluses, program changes, clock
corrections, sensor noise, occlusions, sensor faults, stalls and battery events; invariants checked at every wake-up.
Seeded, deterministic.

    python -m verify.soak [--days 3650] [--seed 1] [--ml-per-day R] [--json OUT]
                                                    (make soak; CI runs one year in host_tests)

The firmware's own Pump runs on the simulated board through tools.sim.sim.Simulation (hydraulic plant, pressure noise,
exact reference). A simulated clinician reacts to the alarms as a clinic would (refill after a low reservoir, a new
battery after ERI or EOS, the line cleared and dosing resumed after an occlusion) and random events arrive as
Poisson processes. Programs are drawn from 0.025 to 0.5 mL/day; `--ml-per-day R` holds every program at R instead
(morphine at 10 mg/mL, constant rate, refills of the same strength) to soak one rate. The clock is corrected about
monthly, by minutes, hours, a day or a year either way, sometimes several times within a day (drawn from a random
stream of their own, so the other events keep their draws). Invariants (each violation is listed with its time):

- over-delivery: the delivered steps never lead the exact program plus granted boluses by more than one step;
- no step while suspended (outside priming), while a safety hold is in force (occlusion, stall, sensor fault,
  over-delivery, end of service), or with the cell at end of service past its detection time; steps into an
  occluded line or on a jammed mechanism stay within the detection bounds (OCCLUSION_MAX_STEPS, STALL_MAX_STEPS)
  before the pump holds, counted across resets and across a resume into a line still blocked;
- the reservoir never goes below zero, no step is taken from a dry reservoir, and the pump's estimate never runs
  ahead of the truth by more than the accounting a reset may lose;
- every alarm is active when its condition has held for its detection time: reservoir low/empty (the pump's estimate
  and the truth), occlusion, motor stall, pressure and battery sensor faults, battery ERI/EOS, watchdog reset.
"""

import argparse
import bisect
import json
import random
import sys
import time

from board.sim.hydraulics import HYD_CLEARED, HYD_OCCLUDED, HYD_OPEN
from pump import alarms as al
from pump import battery
from pump.reservoir import STATE_EMPTY, STATE_LOW
from tools.sim.scenario import Scenario
from tools.sim.sim import DAY_MS, Simulation

HOUR_MS = 3600000
NL_PER_STEP = 200
OCCLUSION_MAX_STEPS = 50  # 10 uL at 200 nL per step: the undelivered-volume target of docs/hydraulics.md
STALL_MAX_STEPS = 12  # docs/safety.md: a complete jam is seen within 12 commanded steps
PRESSURE_FAULT_MAX_READS = 80  # two reads per burst (before, after); 32 identical samples make "stuck"; margin
BATTERY_FAULT_MAX_SAMPLES = 70  # hourly samples: 64 identical readings make "stuck"; plus margin
BATTERY_MAX_SAMPLES = 5  # hourly samples: 3 debounced below the threshold, one at boot, one of margin
BATTERY_NOISE_MV = 7  # SimBattery's reading noise bound (three draws of +-2 mV) plus 1
CLOCK_SHIFTS_MIN = (-525600, -1440, -720, -90, -7, -1, 1, 3, 15, 180, 720, 1440, 525600)
CONCENTRATIONS = (10000, 20000)
DOSES_UG = (500, 1000, 2000, 3000, 5000)  # 0.025 to 0.5 mL/day at these strengths
PATIENT_BOLUS = {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}
MAX_BOLUS_UG = 500  # the clinician boluses below stay within the example library's soft limit
FAULTS = ("occlusion", "occlusion", "partial_occlusion", "pressure_fault", "pressure_fault", "motor_stall",
          "battery_fault", "battery_drop")
PRESSURE_MODES = ("stuck", "open", "open_high", "noisy", "out_of_range")
BATTERY_MODES = ("stuck", "open", "noisy")


def _bit(code):
    return 1 << (code - 1)


class Soak(Simulation):
    """One soak run; `run()` returns the Simulation result plus `soak` (counts, invariant checks, violations)."""

    def __init__(self, days=365, seed=1, ml_per_day=None):
        self.rng = random.Random(seed)
        self.clock_rng = random.Random(seed * 7919 + 1)  # clock corrections: a stream of their own
        self.ml_per_day = ml_per_day
        conc = CONCENTRATIONS[0]
        doc = {
            "days": days, "seed": seed,
            "pump": {"nl_per_step": NL_PER_STEP, "catheter_volume_ul": 150},
            "drug": {"name": "morphine", "concentration_ug_per_ml": conc},
            "fill_ul": 40000,
            "therapy": {"mode": "constant", "dose_ug_per_day": self._dose_ug(conc, 2000)},
            "patient_bolus": PATIENT_BOLUS,
            "plant": {"compliance_ul_per_kpa": 0.16, "catheter_resistance_kpa_s_per_ul": 0.32,
                      "sensor_noise_kpa": 0.05, "battery_mah": 2200},
        }
        super().__init__(Scenario(doc), samples=200)
        self.checks = 0
        self.violations = []
        self.counts = dict.fromkeys(("resets", "watchdog_resets", "refills", "patient_boluses", "clinician_boluses",
                                     "programs", "suspends", "faults", "battery_replacements", "resume_retries",
                                     "clock_sets", "clock_sets_refused"), 0)
        self.faults = {}
        self.false_alarms = {}
        self.false_alarm_times = []
        self.fault_active = None  # the injected fault in progress (one at a time)
        self.occluded_steps = 0  # forward steps into the occluded line this episode, before the alarm
        self.jam_steps = 0
        self.pressure_fault_reads0 = None
        self.battery_fault_t = None
        self.battery_low_since = None  # t_ms from which the true voltage is below ERI (EOS) minus the noise
        self.battery_eos_since = None
        self.boot_t = 0
        self.watchdog_boot = False
        self.est_slack_nl = NL_PER_STEP
        self.max_est_ahead_nl = 0
        self.max_est_behind_nl = 0
        self.max_lead_steps = 0.0
        self._pre = None
        self._pending_refill = False
        self._pending_battery = False
        self._resume_pending = False
        self._empty_seen = False
        self._eos_seen = False
        for kind, mean_days in (("reset", 20), ("patient_bolus", 0.3), ("clinician_bolus", 45), ("program", 60),
                                ("suspend", 90), ("fault", 40)):
            self._next(kind, mean_days)
        self._next_clock()

    def _dose_ug(self, conc, dose_ug):
        """The daily dose of a program: `dose_ug`, or the one giving --ml-per-day at `conc`."""
        return dose_ug if self.ml_per_day is None else round(self.ml_per_day * conc)

    # ---- event scheduling ----
    def _at(self, t_ms, kind, **e):
        if t_ms >= self.end_ms:
            return
        e["type"] = kind
        bisect.insort(self.sc.events, (int(t_ms), kind, e), key=lambda ev: ev[0])

    def _next(self, kind, mean_days):
        t = self.clock.t_ms + int(self.rng.expovariate(1.0 / mean_days) * DAY_MS) + 1
        self._at(t, "soak_" + kind, mean_days=mean_days)

    def _next_clock(self):
        """The next clock correction, about monthly; one time in four two to four within hours (the fourth within
        a day is refused: pump.phases)."""
        rng = self.clock_rng
        t = self.clock.t_ms + int(rng.expovariate(1.0 / 30) * DAY_MS) + 1
        for k in range(rng.choice((2, 3, 4)) if rng.random() < 0.25 else 1):
            self._at(t + int(k * rng.uniform(0.5, 6) * HOUR_MS), "set_clock", shift_min=rng.choice(CLOCK_SHIFTS_MIN))
        self._at(t, "soak_clock")

    def _later(self, h_lo, h_hi):
        return self.clock.t_ms + int(self.rng.uniform(h_lo, h_hi) * HOUR_MS)

    def _apply(self, event):
        t, kind, e = event
        if kind.startswith("soak_"):
            self._soak_event(kind[5:], e)
            return
        super()._apply(event)
        ok = self.commands[-1]["ok"] if self.commands else True
        if kind == "reset":
            self._booted(t, e.get("cause") == "watchdog")
        elif kind == "set_clock":
            self.counts["clock_sets" if ok else "clock_sets_refused"] += 1
        elif kind == "refill" and ok:
            self.counts["refills"] += 1
            self._pending_refill = False
            self.est_slack_nl = NL_PER_STEP
        elif kind == "resume_alarm":
            if ok:
                self._resume_pending = False
                self._at(self._later(0.05, 0.2), "acknowledge")
            else:  # the pressure is still settling, the part not yet replaced...: the clinician tries again
                self.counts["resume_retries"] += 1
                self._at(self._later(1, 3), "resume_alarm")

    def _booted(self, t, watchdog):
        self.counts["resets"] += 1
        self.counts["watchdog_resets"] += watchdog
        self.boot_t = t
        self.watchdog_boot = watchdog
        # accounting a reset may lose: steps since the last checkpoint that the gap booking cannot see (a bolus in
        # progress, a fraction of a step), bounded by a checkpoint interval at the highest rate plus a whole bolus
        rate_nl_per_day = self.pump.plan.rate_num // max(self.pump.plan.rate_den, 1)
        bolus_nl = MAX_BOLUS_UG * 1000 * 1000 // self.pump.plan.conc_ug_per_ml if self.pump.plan.conc_ug_per_ml else 0
        self.est_slack_nl += (rate_nl_per_day * self.cfg.checkpoint_interval_s // 86400 + bolus_nl + NL_PER_STEP)

    def _soak_event(self, kind, e):
        rng = self.rng
        now = self.clock.t_ms
        if kind == "unjam":
            self.plant.jammed = False
            return
        if kind == "fault_done":
            self.fault_active = None
            return
        if kind == "clock":
            self._next_clock()
            return
        if kind == "battery_change":  # a new cell: the pump restarts on it
            self.counts["battery_replacements"] += 1
            self._pending_battery = False
            self.hw.battery.set_percent(100)
            self._at(now, "reset", cause="power_on")
            self._at(now + int(0.1 * HOUR_MS), "acknowledge")
            return
        if kind == "refill_now":
            fill = rng.choice((20000, 30000, 40000))
            conc = rng.choice(CONCENTRATIONS) if rng.random() < 0.3 else None
            if self.ml_per_day is not None:
                conc = None  # the same strength: the rate stays
            self._at(now, "refill", fill_ul=fill, **({"concentration_ug_per_ml": conc} if conc else {}))
            self._at(now + int(0.1 * HOUR_MS), "acknowledge")
            return
        self._next(kind, e["mean_days"])
        if kind == "reset":
            self._at(now, "reset", cause="watchdog" if rng.random() < 0.25 else "power_on")
        elif kind == "patient_bolus":
            self.counts["patient_boluses"] += 1
            self._at(now, "patient_bolus")
        elif kind == "clinician_bolus":
            self.counts["clinician_boluses"] += 1
            self._at(now, "clinician_bolus", dose_ug=rng.choice((50, 100, 250, MAX_BOLUS_UG)),
                     duration_min=rng.choice((30, 60, 120)))
        elif kind == "program":
            self.counts["programs"] += 1
            self._at(now, "program", prescription=self._prescription())
        elif kind == "suspend":
            self.counts["suspends"] += 1
            self._at(now, "suspend")
            self._at(self._later(0.5, 12), "resume")
        elif kind == "fault" and self.fault_active is None:
            self._inject(rng.choice(FAULTS))

    def _prescription(self):
        rng = self.rng
        conc = self.pump.plan.conc_ug_per_ml or CONCENTRATIONS[0]
        rx = {"drug": {"name": "morphine", "concentration_ug_per_ml": conc}, "patient_bolus": PATIENT_BOLUS}
        if self.ml_per_day is not None:
            rx["therapy"] = {"mode": "constant", "dose_ug_per_day": self._dose_ug(conc, 0)}
        elif rng.random() < 0.5:
            rx["therapy"] = {"mode": "constant", "dose_ug_per_day": rng.choice(DOSES_UG)}
        else:
            starts = sorted(rng.sample(range(1, 24), rng.randint(1, 4)))
            steps = [{"start": "00:00", "dose_ug_per_day": rng.choice(DOSES_UG)}]
            steps += [{"start": "%02d:00" % h, "dose_ug_per_day": rng.choice(DOSES_UG)} for h in starts]
            rx["therapy"] = {"mode": "flex", "steps": steps}
        if self.ml_per_day is None:
            self._day_and_time_of_day(rx)
        return rx

    def _day_and_time_of_day(self, rx):
        """Some programs also have a weekday of their own and a periodic bolus, so that clock corrections move
        something (drawn from the clock corrections' stream: the other events keep their draws)."""
        rng = self.clock_rng
        th = rx["therapy"]
        if th["mode"] == "flex" and rng.random() < 0.4:
            day = rng.choice(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
            th["weekly"] = {day: [{"start": "00:00", "dose_ug_per_day": rng.choice(DOSES_UG)},
                                  {"start": "%02d:30" % rng.randrange(1, 24), "dose_ug_per_day": rng.choice(DOSES_UG)}]}
        if rng.random() < 0.4:
            q = rng.randrange(96)
            periodic = {"start": "%02d:%02d" % (q // 4, q % 4 * 15), "dose_ug": rng.choice((25, 50, 100)),
                        "duration_min": rng.choice((15, 60, 240))}
            if rng.random() < 0.5:
                periodic["days"] = sorted(rng.sample(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 3),
                                          key=("mon", "tue", "wed", "thu", "fri", "sat", "sun").index)
            rx["periodic_boluses"] = [periodic]

    def _inject(self, fault):
        rng = self.rng
        now = self.clock.t_ms
        self.counts["faults"] += 1
        self.faults[fault] = self.faults.get(fault, 0) + 1
        if fault in ("occlusion", "partial_occlusion"):
            clear_t = self._later(2, 30)
            if fault == "occlusion":
                self._at(now, "occlusion")
            else:
                self._at(now, "partial_occlusion", resistance_x=rng.choice((5, 20, 100)))
            self._at(clear_t, "occlusion_clear")
        elif fault == "pressure_fault":
            clear_t = self._later(1, 24)
            self._at(now, "sensor_fault", sensor="pressure", mode=rng.choice(PRESSURE_MODES))
            self._at(clear_t, "sensor_fault", sensor="pressure", mode="none")
        elif fault == "motor_stall":
            clear_t = self._later(1, 24)
            self._at(now, "motor_stall")
            self._at(clear_t, "soak_unjam")
        elif fault == "battery_fault":
            clear_t = self._later(72, 120)  # longer than the 64 hourly samples a stuck reading needs
            self._at(now, "sensor_fault", sensor="battery", mode=rng.choice(BATTERY_MODES))
            self._at(clear_t, "sensor_fault", sensor="battery", mode="none")
        else:  # battery_drop: a cell failing early; the clinician reacts to the ERI/EOS alarm it brings
            clear_t = now
            self._at(now, "battery", percent=rng.choice((0, 1, 3, 6, 9)))
        self.fault_active = (fault, clear_t)
        self._at(clear_t + int(0.2 * HOUR_MS), "acknowledge")
        self._at(clear_t + int(0.3 * HOUR_MS), "soak_fault_done")

    # ---- the clinician: reacts to the alarms ----
    def _react(self):
        alarms = self.pump.safety.alarms
        rng = self.rng
        if self.pump.safety.holding and not self._resume_pending:  # looked at within hours, resumed when clear
            self._resume_pending = True
            self._at(self._later(1, 6), "resume_alarm")
        state = self.pump.reservoir.state
        if state in (STATE_LOW, STATE_EMPTY) and not self._pending_refill:
            self._pending_refill = True
            # mostly a timely refill; one in five waits until the reservoir has run empty, for a day or two
            late = state == STATE_LOW and rng.random() < 0.2
            self._at(self._later(150 * 24, 200 * 24) if late else self._later(2, 96), "soak_refill_now")
        if state == STATE_EMPTY and self._pending_refill and not self._empty_seen:
            self._empty_seen = True
            self._at(self._later(4, 48), "soak_refill_now")
        if state not in (STATE_LOW, STATE_EMPTY):
            self._empty_seen = False
        eri = alarms.is_active(al.A_BATTERY_ERI)
        eos = alarms.is_active(al.A_BATTERY_EOS)
        if (eri or eos) and not self._pending_battery:
            self._pending_battery = True
            late = eos or rng.random() < 0.2  # one in five waits past end of service
            self._at(self._later(2, 48) if late and eos else self._later(24 * 7, 24 * 60) if not late
                     else self._later(24 * 200, 24 * 300), "soak_battery_change")
        if eos and self._pending_battery and not self._eos_seen:
            self._eos_seen = True
            self._at(self._later(2, 48), "soak_battery_change")
        if not eos:
            self._eos_seen = False

    # ---- invariants ----
    def _violation(self, t, what):
        if len(self.violations) < 200:
            self.violations.append({"t_h": round(t / HOUR_MS, 4), "what": what})

    def _wake(self, t):
        p = self.pump
        self._pre = (p.suspended, p.plan.prime_nl_left, p.safety.holding, p.safety.alarms.active_bitmap,
                     self.plant.reservoir_nl, self.plant.jammed, self.hydraulics.state == HYD_OCCLUDED)

    def _check(self, t, before, after):
        super()._check(t, before, after)
        if self._pre is None:
            return
        suspended, priming, holding, active, res_nl, jammed, occluded = self._pre
        self._pre = None
        p = self.pump
        n = after - before
        self.checks += 1
        # over-delivery: never ahead of the exact program plus granted boluses by more than one step
        line = self._line
        a, b, y, _until = line
        lead = (after * y - (a + t * b)) / y
        if lead > self.max_lead_steps:
            self.max_lead_steps = lead
        if lead > 1:
            self._violation(t, "delivered %.3f steps ahead of the program" % lead)
        if n:
            if suspended and not priming:
                self._violation(t, "%d steps while suspended" % n)
            if holding:
                self._violation(t, "%d steps while holding (bitmap %#x)" % (n, holding))
            eos_since = self.battery_eos_since
            if eos_since is not None and t - max(eos_since, self.boot_t) > BATTERY_MAX_SAMPLES * HOUR_MS:
                self._violation(t, "%d steps with the battery at end of service" % n)
            if res_nl < n * NL_PER_STEP:
                self._violation(t, "%d steps from a reservoir holding %d nL" % (n, res_nl))
            if occluded:
                self.occluded_steps += n
            if jammed:
                self.jam_steps += n
        # an episode's count starts again once the pump holds for it (a resume into a line still blocked is allowed:
        # it must be caught again within the same bound)
        held = p.safety.holding
        if self.hydraulics.state != HYD_OCCLUDED or held & _bit(al.A_OCCLUSION):
            self.occluded_steps = 0
        if not self.plant.jammed or held & _bit(al.A_MOTOR_STALL):
            self.jam_steps = 0
        raised = p.safety.alarms.active_bitmap & ~active
        if raised:
            self._unexplained(t, raised, jammed or self.plant.jammed, occluded)
        if self.plant.reservoir_nl < 0 or p.reservoir.remaining_nl < 0:
            self._violation(t, "reservoir below zero")
        self._alarm_conditions(t)
        self._react()

    def _unexplained(self, t, raised, jammed, occluded):
        """Alarms raised with no injected cause (false alarms): counted and reported, not invariant violations."""
        hyd = self.hydraulics.state
        causes = (
            (al.A_PRESSURE_SENSOR_FAULT, self.hw.pressure.fault is not None),
            (al.A_MOTOR_STALL, jammed),
            (al.A_OCCLUSION, occluded or (hyd != HYD_OPEN and hyd != HYD_CLEARED)),
            (al.A_BATTERY_SENSOR_FAULT, self.hw.battery.fault is not None),
            (al.A_OVER_DELIVERY, False),
        )
        for code, cause in causes:
            if raised & _bit(code) and not cause:
                name = al.NAME[code]
                self.false_alarms[name] = self.false_alarms.get(name, 0) + 1
                if len(self.false_alarm_times) < 50:
                    self.false_alarm_times.append((round(t / HOUR_MS, 3), name))

    def _alarm_conditions(self, t):
        p = self.pump
        alarms = p.safety.alarms
        active = alarms.active_bitmap

        def need(code, why):
            if not active & _bit(code):
                self._violation(t, "%s not active: %s" % (al.NAME[code], why))

        # reservoir: the pump's estimate at once, the truth beyond what a reset may have lost
        est_ahead = p.reservoir.remaining_nl - self.plant.reservoir_nl
        self.max_est_ahead_nl = max(self.max_est_ahead_nl, est_ahead)
        self.max_est_behind_nl = max(self.max_est_behind_nl, -est_ahead)
        if est_ahead > self.est_slack_nl:
            self._violation(t, "reservoir estimate %d nL above the truth" % est_ahead)
        state = p.reservoir.state
        if state == STATE_LOW:
            need(al.A_RESERVOIR_LOW, "estimate at the low threshold")
        elif state == STATE_EMPTY:
            need(al.A_RESERVOIR_EMPTY, "estimate at the empty threshold")
        truth = self.plant.reservoir_nl + self.est_slack_nl
        if truth <= p.reservoir.empty_nl:
            need(al.A_RESERVOIR_EMPTY, "true reservoir below empty")
        elif truth <= p.reservoir.low_nl and not active & _bit(al.A_RESERVOIR_EMPTY):
            need(al.A_RESERVOIR_LOW, "true reservoir below low")
        if self.occluded_steps > OCCLUSION_MAX_STEPS:
            need(al.A_OCCLUSION, "%d steps into an occluded line" % self.occluded_steps)
        if self.jam_steps > STALL_MAX_STEPS:
            need(al.A_MOTOR_STALL, "%d steps on a jammed mechanism" % self.jam_steps)
        pressure = self.hw.pressure
        if pressure.fault is not None:
            if self.pressure_fault_reads0 is None or p.safety.holding & _bit(al.A_PRESSURE_SENSOR_FAULT):
                self.pressure_fault_reads0 = pressure.reads
            elif pressure.reads - self.pressure_fault_reads0 > PRESSURE_FAULT_MAX_READS:
                need(al.A_PRESSURE_SENSOR_FAULT, "pressure sensor %s" % pressure.fault)
        else:
            self.pressure_fault_reads0 = None
        bat = self.hw.battery
        if bat.fault is not None:
            if self.battery_fault_t is None:
                self.battery_fault_t = t
            elif t - max(self.battery_fault_t, self.boot_t) > BATTERY_FAULT_MAX_SAMPLES * HOUR_MS:
                need(al.A_BATTERY_SENSOR_FAULT, "battery sensor %s" % bat.fault)
        else:
            self.battery_fault_t = None
            self._battery_levels(t, need)
        if self.watchdog_boot:  # checked at the first wake-up after the boot
            need(al.A_WATCHDOG_RESET, "booted from a watchdog reset")
            self.watchdog_boot = False

    def _battery_levels(self, t, need):
        bat = self.hw.battery
        mon = self.pump.safety.battery
        dod_ppm = min(bat.used_uah() * 1000000 // bat.full_uah, 1000000)
        mv = battery.mv_at(dod_ppm)
        low = mv <= mon.eri_mv - BATTERY_NOISE_MV
        eos = mv <= mon.eos_mv - BATTERY_NOISE_MV
        self.battery_low_since = (self.battery_low_since if self.battery_low_since is not None else t) if low else None
        self.battery_eos_since = (self.battery_eos_since if self.battery_eos_since is not None else t) if eos else None
        window = BATTERY_MAX_SAMPLES * HOUR_MS
        if eos and t - max(self.battery_eos_since, self.boot_t) > window:
            need(al.A_BATTERY_EOS, "battery at %d mV (EOS %d mV)" % (mv, mon.eos_mv))
        elif low and t - max(self.battery_low_since, self.boot_t) > window:
            if not self.pump.safety.alarms.active_bitmap & (_bit(al.A_BATTERY_ERI) | _bit(al.A_BATTERY_EOS)):
                need(al.A_BATTERY_ERI, "battery at %d mV (ERI %d mV)" % (mv, mon.eri_mv))

    # ---- report ----
    def run(self):
        t0 = time.perf_counter()
        res = super().run()
        secs = time.perf_counter() - t0
        by_code = {}
        for a in res["alarms"]:
            by_code[a["name"]] = by_code.get(a["name"], 0) + 1
        res["soak"] = {
            "days": res["days"], "ml_per_day": self.ml_per_day, "steps": res["steps"], "wakeups": res["wakeups"],
            "seconds": round(secs, 1),
            "counts": self.counts, "faults": self.faults, "alarms_by_code": by_code,
            "invariant_checks": self.checks, "violations": self.violations,
            "false_alarms": self.false_alarms, "false_alarm_times_h": self.false_alarm_times,
            "max_lead_steps": round(self.max_lead_steps, 6),
            "max_reservoir_estimate_ahead_ul": self.max_est_ahead_nl / 1000,
            "max_reservoir_estimate_behind_ul": self.max_est_behind_nl / 1000,
        }
        return res


def summary(res):
    s = res["soak"]
    c = s["counts"]
    lines = [
        "soak: %.0f days (%.1f years) in %.0f s: %d steps, %d wake-ups%s" % (
            s["days"], s["days"] / 365.25, s["seconds"], s["steps"], s["wakeups"],
            ", every program at %g mL/day" % s["ml_per_day"] if s["ml_per_day"] is not None else ""),
        "resets %d (%d watchdog), refills %d, patient boluses %d asked (%d granted), clinician boluses %d, "
        "programs %d, suspends %d, battery replacements %d, clock corrections %d (%d refused)" % (
            c["resets"], c["watchdog_resets"], c["refills"], c["patient_boluses"],
            sum(1 for b in res["boluses"] if b["granted"]), c["clinician_boluses"], c["programs"], c["suspends"],
            c["battery_replacements"], c["clock_sets"], c["clock_sets_refused"]),
        "faults injected %d: %s" % (c["faults"], ", ".join("%s %d" % kv for kv in sorted(s["faults"].items()))),
        "alarms by code: %s" % (", ".join("%s %d" % kv for kv in sorted(s["alarms_by_code"].items())) or "none"),
        "alarms without an injected cause: %s" % (
            ", ".join("%s %d" % kv for kv in sorted(s["false_alarms"].items())) or "none"),
        "invariant checks %d, violations %d; largest lead over the program %.3f steps; reservoir estimate "
        "%.1f uL above / %.1f uL below the truth at most" % (
            s["invariant_checks"], len(s["violations"]), s["max_lead_steps"], s["max_reservoir_estimate_ahead_ul"],
            s["max_reservoir_estimate_behind_ul"]),
    ]
    for v in s["violations"][:20]:
        lines.append("  VIOLATION at %.2f h: %s" % (v["t_h"], v["what"]))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m verify.soak", description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=float, default=3650)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ml-per-day", type=float, metavar="R", help="every program at R mL/day (morphine 10 mg/mL)")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON")
    args = ap.parse_args(argv)
    res = Soak(args.days, args.seed, args.ml_per_day).run()
    print(summary(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res["soak"], f, indent=1)
    return 1 if res["soak"]["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
