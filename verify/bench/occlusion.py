"""Occlusion bench: the hydraulic plant (board.sim) and pump.occlusion driven by an exact integer step schedule.

    python -m verify.bench.occlusion [--trials N] [--days D] [--seed S] [--json OUT]

No controller: each wake-up reads the residual, steps once unless the detector says OCCLUDED, reads the peak. For
every rate and for the default and 5x compliance it measures
- full occlusion at a random phase after a settled baseline: volume pumped but not delivered when the alarm comes,
  time to the alarm, then the back-off the detector asks for, and the bolus released when the line clears later
  (worst of `trials` onsets);
- partial occlusion (catheter resistance x20, x200, x2000 from a random instant, and a restriction growing x10 every
  100 or 1000 steps): the largest volume held back, and whether and when it alarmed;
- a year without occlusion (sensor noise, breathing, pulse, posture) at 0.5 and 5 mL/day: false alarms.
The year runs use `OpenLine`, a vectorised (numpy) twin of Hydraulics + SimPressure for a line that stays open, so
a year of 5 mL/day (9.1 million steps) costs only the detector's own two calls per step; a test checks the twin
against the scalar model.
"""

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from board.sim.clock import VirtualClock
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant, SimRng
from board.sim.roles import SimPressure
from pump.compat import TICKS_MASK
from pump.occlusion import OCCLUDED, REASON_FULL, SUSPECT, OcclusionDetector

DAY_MS = 86400000
NL_PER_STEP = 200
RATES_ML_PER_DAY = (0.05, 0.1, 0.5, 1, 5, 10, 20)
COMPLIANCES = (("default", 0.16), ("5x", 0.8))  # µL/kPa
PARTIAL_FACTORS = (20, 200, 2000)
CREEP_DECADE_STEPS = (100, 1000)  # a growing restriction: resistance x10 per this many steps
YEAR_RATES_ML_PER_DAY = (0.5, 5)
TARGET_UNDELIVERED_UL = 10.0
TARGET_BOLUS_UL = 2.0
_WARM_STEPS = 256  # open-line steps before an onset (plus up to as many again, at random)
_MAX_STEPS = 5000  # give up on an alarm after this many steps


def rate_nl_per_day(rate_ml_per_day):
    return round(rate_ml_per_day * 1000000)


class Schedule:
    """Exact step times: step k at floor(k x DAY_MS x nl_per_step / rate) ms after `t0_ms` (no drift, whole ms)."""

    def __init__(self, rate_nl, nl_per_step=NL_PER_STEP, t0_ms=0):
        self.num = DAY_MS * nl_per_step
        self.den = rate_nl
        self.restart(t0_ms)

    @property
    def interval_ms(self):
        return self.num / self.den

    def restart(self, t0_ms):
        self.t0 = t0_ms
        self.k = 0
        self.t = t0_ms

    def next(self):
        self.k += 1
        self.t = self.t0 + self.k * self.num // self.den
        return self.t

    def times(self, count):
        """The next `count` step times as a numpy int64 array (and the schedule moves past them)."""
        import numpy as np

        k = np.arange(self.k + 1, self.k + count + 1, dtype=np.int64)
        self.k += count
        t = self.t0 + k * self.num // self.den
        self.t = int(t[-1])
        return t


class Rig:
    """Plant (with hydraulics), pressure sensor and detector on a virtual clock, stepped by a Schedule."""

    def __init__(self, rate_ml_per_day, c_ul_per_kpa, seed, hydraulics=None, detector=None, fill_ul=100000):
        self.clock = VirtualClock()
        self.plant = Plant(nl_per_step=NL_PER_STEP, fill_ul=fill_ul)
        self.hyd = Hydraulics(self.clock, c_ul_per_kpa=c_ul_per_kpa, seed=seed, **(hydraulics or {}))
        self.hyd.attach(self.plant)
        self.sensor = SimPressure(self.hyd, seed)
        self.det = OcclusionDetector(NL_PER_STEP, **(detector or {}))
        self.sched = Schedule(rate_nl_per_day(rate_ml_per_day))
        self.false_alarms = 0

    def wake(self):
        """One wake-up at the next step time: residual, the step unless OCCLUDED, peak. True when it stepped."""
        self.clock.t_ms = self.sched.next()
        now = self.clock.ticks_ms()
        det = self.det
        det.before_step(self.sensor.read_kpa_x10(), now)
        if det.state == OCCLUDED:
            return False
        self.plant.forward(1)
        det.after_step(self.sensor.read_kpa_x10(), 1, now)
        return True

    def warm(self, steps):
        """Open-line steps; an alarm here is a false alarm (counted, re-armed)."""
        for _ in range(steps):
            if not self.wake():
                self.false_alarms += 1
                self.det.rearm()

    def undelivered_nl(self):
        """Pumped but not (yet) delivered, since the model started."""
        return self.hyd.pumped_nl - self.hyd.delivered_nl()


def full_trial(rate_ml_per_day, c_ul_per_kpa, seed):
    """One full occlusion: onset at a random phase, alarm, back-off, clearing at a random time in the next hour."""
    rig = Rig(rate_ml_per_day, c_ul_per_kpa, seed)
    rng = SimRng(seed * 7919 + 17)
    rig.warm(_WARM_STEPS + int(rng.uniform() * _WARM_STEPS))
    hyd, det, clock = rig.hyd, rig.det, rig.clock
    t_on = rig.sched.t + int(rng.uniform() * rig.sched.interval_ms)
    clock.t_ms = t_on
    hyd.occlude()
    held0 = rig.undelivered_nl()
    steps = 0
    while rig.wake():
        steps += 1
        if steps >= _MAX_STEPS:
            return {"detected": False, "steps": steps}
    t_alarm = clock.t_ms
    undelivered = rig.undelivered_nl() - held0
    estimate = det.held_back_nl()
    backoff = det.backoff_steps(NL_PER_STEP)
    if backoff:
        rig.plant.reverse(backoff)
    cleared = det.cleared(rig.sensor.read_kpa_x10())
    clock.t_ms = t_alarm + int(rng.uniform() * 3600000)
    bolus = hyd.clear()
    # resume on the open line: no new alarm
    det.rearm()
    rig.sched.restart(clock.t_ms)
    before = rig.false_alarms
    rig.warm(64)
    return {
        "detected": True, "reason": "full" if det.reason in (0, REASON_FULL) else "partial", "steps": steps,
        "undelivered_ul": undelivered / 1000, "time_to_alarm_s": (t_alarm - t_on) / 1000,
        "estimate_ul": estimate / 1000, "backoff_steps": backoff, "cleared": cleared, "bolus_ul": bolus / 1000,
        "false_alarms": rig.false_alarms, "realarms_after_resume": rig.false_alarms - before,
        "c_est_nl_per_kpa": det.c_nl_per_kpa(),
    }


def partial_trial(rate_ml_per_day, c_ul_per_kpa, seed, factor):
    """Partial occlusion (resistance x factor) from a random phase: the largest volume the restriction holds back
    (C x (P - P_csf) just before a step, so CSF pressure changes are not counted), and the alarm if one comes. Runs
    for at least 600 steps and 10 tau' (at most 20000 steps)."""
    rig = Rig(rate_ml_per_day, c_ul_per_kpa, seed)
    rng = SimRng(seed * 104729 + 3)
    rig.warm(_WARM_STEPS + int(rng.uniform() * _WARM_STEPS))
    hyd, det, clock = rig.hyd, rig.det, rig.clock
    t_on = rig.sched.t + int(rng.uniform() * rig.sched.interval_ms)
    clock.t_ms = t_on
    hyd.partial(factor)
    end_ms = t_on + 10 * hyd.tau_s * 1000
    worst = 0.0
    steps = 0
    while steps < 600 or (clock.t_ms < end_ms and steps < 20000):
        clock.t_ms = rig.sched.next()
        now = clock.ticks_ms()
        held = hyd.excess_nl()
        worst = max(worst, held)
        det.before_step(rig.sensor.read_kpa_x10(), now)
        if det.state == OCCLUDED:
            return {"detected": True, "reason": "full" if det.reason == REASON_FULL else "partial", "steps": steps,
                    "held_at_alarm_ul": held / 1000, "worst_held_ul": worst / 1000,
                    "time_to_alarm_s": (clock.t_ms - t_on) / 1000, "tau_s": hyd.tau_s}
        rig.plant.forward(1)
        det.after_step(rig.sensor.read_kpa_x10(), 1, now)
        steps += 1
    return {"detected": False, "steps": steps, "worst_held_ul": worst / 1000, "tau_s": hyd.tau_s,
            "suspect": det.state == SUSPECT}


def creep_trial(rate_ml_per_day, c_ul_per_kpa, seed, decade_steps):
    """A restriction that grows slowly (resistance x10 every `decade_steps` steps, from the onset on): the volume it
    holds back when the alarm comes (at most 30000 steps)."""
    rig = Rig(rate_ml_per_day, c_ul_per_kpa, seed)
    rng = SimRng(seed * 15485863 + 5)
    rig.warm(_WARM_STEPS + int(rng.uniform() * _WARM_STEPS))
    hyd, det, clock = rig.hyd, rig.det, rig.clock
    t_on = clock.t_ms
    worst = 0.0
    for k in range(30000):
        hyd.partial(min(10.0 ** (k / decade_steps), 1e9))
        clock.t_ms = rig.sched.next()
        now = clock.ticks_ms()
        held = hyd.excess_nl()
        worst = max(worst, held)
        det.before_step(rig.sensor.read_kpa_x10(), now)
        if det.state == OCCLUDED:
            return {"detected": True, "reason": "full" if det.reason == REASON_FULL else "partial", "steps": k,
                    "held_at_alarm_ul": held / 1000, "worst_held_ul": worst / 1000,
                    "time_to_alarm_s": (clock.t_ms - t_on) / 1000}
        rig.plant.forward(1)
        det.after_step(rig.sensor.read_kpa_x10(), 1, now)
    return {"detected": False, "steps": 30000, "worst_held_ul": worst / 1000}


# ---- a year on the open line, vectorised ----


class OpenLine:
    """What Hydraulics + SimPressure give, evaluated for many steps at once, for a line that stays open.

    Same parameters, the same CSF waves (Hydraulics.wave_kpa on arrays) and posture episodes (taken from the model's
    own generator); the excess before each step follows e_k = (e_{k-1} + V/C) x exp(-dt/tau), summed over the last
    terms that matter. Only the sensor noise comes from numpy's generator (same distribution as SimRng.gaussish).
    """

    def __init__(self, hyd, sensor, seed):
        import numpy as np

        self.np = np
        self.hyd = hyd
        self.sensor = sensor
        self.jump_kpa = NL_PER_STEP / hyd.c_nl_per_kpa
        self.e_after = 0.0  # excess just after the last step
        self.t_last = None
        self.rng = np.random.default_rng(seed)

    def true_pressures(self, t_ms):
        """(before, after) each step at t_ms (int64 array, increasing): true kPa."""
        np = self.np
        hyd = self.hyd
        t_s = t_ms / 1000.0
        p = hyd.p_csf_kpa + self.posture(t_s) + hyd.wave_kpa(t_s, np)
        decay = np.empty(len(t_ms))
        dt = np.diff(t_ms) / 1000.0
        decay[1:] = -dt / hyd.tau_s
        decay[0] = -(t_ms[0] - self.t_last) / 1000.0 / hyd.tau_s if self.t_last is not None else -1e9
        s = np.cumsum(decay)  # log of the decay from the start of the chunk
        smallest = float(-decay.max()) if len(decay) else 1.0
        terms = int(min(len(t_ms), math.ceil(40.0 / max(smallest, 1e-3)))) + 1
        e = np.zeros(len(t_ms))
        for d in range(terms):  # the injection d steps back (d = 0: the step just before this one)
            k = np.arange(d + 1, len(t_ms)) if d + 1 < len(t_ms) else np.arange(0)
            if len(k):
                e[k] += self.jump_kpa * np.exp(s[k] - s[k - d - 1])
        m = np.arange(min(terms, len(t_ms)))  # the carried excess from before the chunk
        e[m] += self.e_after * np.exp(s[m])
        self.t_last = int(t_ms[-1])
        self.e_after = float(e[-1]) + self.jump_kpa
        return p + e, p + e + self.jump_kpa

    def posture(self, t_s):
        np = self.np
        hyd = self.hyd
        out = np.zeros(len(t_s))
        r = hyd.ramp_s
        for start, end, amp in hyd.posture_episodes(float(t_s[-1])):
            i, j = np.searchsorted(t_s, [start, end], side="left")
            if i >= j:
                continue
            ts = t_s[i:j]
            v = np.full(len(ts), amp)
            up = ts < start + r
            v[up] = amp * 0.5 * (1.0 - np.cos(math.pi * (ts[up] - start) / r))
            down = ~up & (ts > end - r)
            v[down] = amp * 0.5 * (1.0 - np.cos(math.pi * (end - ts[down]) / r))
            v[ts <= start] = 0.0
            out[i:j] = v
        return out

    def read(self, p_kpa):
        """Sensor readings (0.1 kPa ints) of true pressures, as SimPressure.read_kpa_x10 makes them."""
        np = self.np
        sen = self.sensor
        x = self.rng.integers(0, 1 << 32, len(p_kpa), dtype=np.int64)
        g = ((x & 255) + (x >> 8 & 255) + (x >> 16 & 255) + (x >> 24) - 510) * 0.006766
        p = np.clip(p_kpa + sen.noise_kpa * g, sen.lo_kpa, sen.hi_kpa)
        return np.floor(np.floor(p / sen.lsb_kpa) * sen.lsb_kpa * 10.0).astype(np.int64)


def year_run(rate_ml_per_day, c_ul_per_kpa, days, seed, chunk=50000):
    """`days` of an open line at one rate: false alarms (each re-armed), SUSPECT readings, largest elevation."""
    t0 = time.time()
    rig = Rig(rate_ml_per_day, c_ul_per_kpa, seed)
    line = OpenLine(rig.hyd, rig.sensor, seed)
    det = rig.det
    before, after = det.before_step, det.after_step
    sched = rig.sched
    total = int(days * rate_nl_per_day(rate_ml_per_day) // NL_PER_STEP)
    start_ticks = rig.clock.start_ticks
    alarms = []
    suspect = 0
    emax = -(1 << 20)  # largest elevation over the baseline seen by the detector (counts)
    done = 0
    while done < total:
        t = sched.times(min(chunk, total - done))
        done += len(t)
        res, peak = line.true_pressures(t)
        r_list = line.read(res).tolist()
        p_list = line.read(peak).tolist()
        ticks = ((t + start_ticks) & TICKS_MASK).tolist()
        gate = (det.base_x1024 >> 10) + emax - 10  # the baseline moves slowly: only readings above this can beat emax
        for r, pk, now in zip(r_list, p_list, ticks):
            if r > gate:
                e = r - (det.base_x1024 >> 10)
                if e > emax:
                    emax = e
            before(r, now)
            if det.state:
                if det.state == OCCLUDED:
                    alarms.append(now)
                    det.rearm()
                else:
                    suspect += 1
            after(pk, 1, now)
    return {"rate_ml_per_day": rate_ml_per_day, "c_ul_per_kpa": c_ul_per_kpa, "days": days, "steps": total,
            "false_alarms": len(alarms), "suspect_readings": suspect, "max_elevation_kpa_x10": emax,
            "postures": rig.hyd.postures, "seconds": round(time.time() - t0, 2)}


# ---- the whole bench ----


def _full_cell(args):
    rate, c, seeds = args
    return [full_trial(rate, c, s) for s in seeds]


def _partial_cell(args):
    rate, c, factor, seeds = args
    return [partial_trial(rate, c, s, factor) for s in seeds]


def _creep_cell(args):
    rate, c, decade, seed = args
    return creep_trial(rate, c, seed, decade)


def _year_cell(args):
    return year_run(*args)


def run(trials=8, days=365, seed=1, partial_trials=2, workers=None):
    """Every measurement; returns a dict (see main for the tables)."""
    workers = workers or min(4, os.cpu_count() or 1)
    seeds = [seed * 1000 + i for i in range(trials)]
    pseeds = [seed * 1000 + 500 + i for i in range(partial_trials)]
    full_jobs = [(r, c, seeds) for _n, c in COMPLIANCES for r in RATES_ML_PER_DAY]
    partial_jobs = [(r, c, f, pseeds) for _n, c in COMPLIANCES for f in PARTIAL_FACTORS for r in RATES_ML_PER_DAY]
    creep_jobs = [(r, c, d, seed) for _n, c in COMPLIANCES for d in CREEP_DECADE_STEPS for r in RATES_ML_PER_DAY]
    year_jobs = [(r, c, days, seed) for _n, c in COMPLIANCES for r in YEAR_RATES_ML_PER_DAY]
    with ProcessPoolExecutor(workers) as ex:
        years = ex.map(_year_cell, sorted(year_jobs, key=lambda j: -j[0]))  # the long ones first
        full = list(ex.map(_full_cell, full_jobs))
        partial = list(ex.map(_partial_cell, partial_jobs))
        creep = list(ex.map(_creep_cell, creep_jobs))
        years = list(years)
    out = {"full": [], "partial": [], "creep": [], "year": years, "trials": trials, "partial_trials": partial_trials}
    for (rate, c, d, _s), res in zip(creep_jobs, creep):
        res.update({"rate_ml_per_day": rate, "c_ul_per_kpa": c, "decade_steps": d})
        out["creep"].append(res)
    for (rate, c, _s), res in zip(full_jobs, full):
        out["full"].append(_summary_full(rate, c, res))
    for (rate, c, f, _s), res in zip(partial_jobs, partial):
        out["partial"].append(_summary_partial(rate, c, f, res))
    return out


def _summary_full(rate, c, res):
    hit = [r for r in res if r["detected"]]
    row = {"rate_ml_per_day": rate, "c_ul_per_kpa": c, "trials": len(res), "detected": len(hit)}
    if hit:
        row.update({
            "steps_max": max(r["steps"] for r in hit),
            "undelivered_ul_max": max(r["undelivered_ul"] for r in hit),
            "undelivered_ul_min": min(r["undelivered_ul"] for r in hit),
            "time_to_alarm_s_max": max(r["time_to_alarm_s"] for r in hit),
            "estimate_ul_max": max(r["estimate_ul"] for r in hit),
            "backoff_steps_max": max(r["backoff_steps"] for r in hit),
            "bolus_ul_max": max(r["bolus_ul"] for r in hit),
            "bolus_ul_min": min(r["bolus_ul"] for r in hit),
            "cleared_all": all(r["cleared"] for r in hit),
            "false_alarms": sum(r["false_alarms"] for r in res),
            "realarms_after_resume": sum(r["realarms_after_resume"] for r in hit),
            "c_est_nl_per_kpa": [min(r["c_est_nl_per_kpa"] for r in hit), max(r["c_est_nl_per_kpa"] for r in hit)],
        })
    return row


def _summary_partial(rate, c, factor, res):
    hit = [r for r in res if r["detected"]]
    return {"rate_ml_per_day": rate, "c_ul_per_kpa": c, "factor": factor, "trials": len(res), "detected": len(hit),
            "worst_held_ul": max(r["worst_held_ul"] for r in res),
            "held_at_alarm_ul_max": max((r["held_at_alarm_ul"] for r in hit), default=None),
            "time_to_alarm_s_max": max((r["time_to_alarm_s"] for r in hit), default=None),
            "reasons": sorted({r["reason"] for r in hit}), "tau_s": res[0]["tau_s"]}


def _dur(s):
    if s is None:
        return "-"
    if s < 120:
        return "%.1f s" % s
    if s < 7200:
        return "%.1f min" % (s / 60)
    return "%.1f h" % (s / 3600)


def tables(out):
    lines = []
    for name, c in COMPLIANCES:
        lines.append("")
        lines.append("Full occlusion, C = %.2f uL/kPa (%s), %d onsets per rate (worst shown)"
                     % (c, name, out["trials"]))
        lines.append("rate mL/day | steps | undelivered uL | time to alarm | held-back est. uL | back-off steps "
                     "| bolus uL (min..max) | cleared")
        for row in out["full"]:
            if row["c_ul_per_kpa"] != c:
                continue
            if row["detected"] < row["trials"]:
                lines.append("%11g | NOT DETECTED in %d of %d" % (row["rate_ml_per_day"],
                                                                  row["trials"] - row["detected"], row["trials"]))
                continue
            lines.append("%11g | %5d | %14.2f | %13s | %17.2f | %14d | %19s | %s" % (
                row["rate_ml_per_day"], row["steps_max"], row["undelivered_ul_max"], _dur(row["time_to_alarm_s_max"]),
                row["estimate_ul_max"], row["backoff_steps_max"],
                "%.2f..%.2f" % (row["bolus_ul_min"], row["bolus_ul_max"]), "yes" if row["cleared_all"] else "NO"))
    for name, c in COMPLIANCES:
        lines.append("")
        lines.append("Partial occlusion, C = %.2f uL/kPa (%s): largest volume held back (uL), alarm" % (c, name))
        lines.append("rate mL/day | " + " | ".join("R x%-5d held   alarm at" % f for f in PARTIAL_FACTORS)
                     + "   (F: rising, P: held back)")
        for rate in RATES_ML_PER_DAY:
            cells = []
            for f in PARTIAL_FACTORS:
                row = next(r for r in out["partial"] if r["c_ul_per_kpa"] == c and r["factor"] == f
                       and r["rate_ml_per_day"] == rate)
                alarm = "-" if not row["detected"] else "%.2f uL %s" % (
                    row["held_at_alarm_ul_max"], "/".join(x[0].upper() for x in row["reasons"]))
                cells.append("%8.2f %14s" % (row["worst_held_ul"], alarm))
            lines.append("%11g | " % rate + " | ".join(cells))
    for name, c in COMPLIANCES:
        lines.append("")
        lines.append("Growing restriction, C = %.2f uL/kPa (%s): volume held back at the alarm" % (c, name))
        lines.append("rate mL/day | " + " | ".join("R x10 per %4d steps: held   after" % d for d in CREEP_DECADE_STEPS))
        for rate in RATES_ML_PER_DAY:
            cells = []
            for d in CREEP_DECADE_STEPS:
                row = next(r for r in out["creep"] if r["c_ul_per_kpa"] == c and r["decade_steps"] == d
                       and r["rate_ml_per_day"] == rate)
                if row["detected"]:
                    cells.append("%25.2f uL %s %9s" % (row["held_at_alarm_ul"], row["reason"][0].upper(),
                                                     _dur(row["time_to_alarm_s"])))
                else:
                    cells.append("%25s" % "NOT DETECTED")
            lines.append("%11g | " % rate + " | ".join(cells))
    lines.append("")
    lines.append("Open line, no occlusion (noise, breathing, pulse, posture)")
    lines.append("rate mL/day | C uL/kPa | days |   steps | false alarms | SUSPECT readings | highest kPa over "
                 "baseline | postures | s")
    for y in out["year"]:
        lines.append("%11g | %8.2f | %4g | %7d | %12d | %16d | %25.1f | %8d | %.1f" % (
            y["rate_ml_per_day"], y["c_ul_per_kpa"], y["days"], y["steps"], y["false_alarms"], y["suspect_readings"],
            y["max_elevation_kpa_x10"] / 10, y["postures"], y["seconds"]))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m verify.bench.occlusion", description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=8, help="full-occlusion onsets per rate and compliance")
    ap.add_argument("--days", type=float, default=365, help="length of the no-occlusion runs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON")
    args = ap.parse_args(argv)
    t0 = time.time()
    out = run(args.trials, args.days, args.seed)
    print(tables(out))
    print("\n%.1f s" % (time.time() - t0))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
