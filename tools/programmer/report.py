"""The offline report of a checked prescription: daily dose, volume and steps per weekday, basal rates and step
intervals, boluses, volume a day, the reservoir's low, empty and recommended refill dates (pump.reservoir), all read
from the firmware's own objects (Therapy, Pump, Reservoir) on the simulated board through tools/sim/sim.py; and the
simulation of it.
"""

import datetime
import json
import os

from tools.boardconfig import boardconfig

from pump.battery import ERI_DAYS
from pump.limits import usage_nl_per_day
from pump.reservoir import REFILL_RULE, refill_days
from pump.therapy import MODE_STOPPED, WEEKDAYS
from pump.units import format_hhmm

LIBRARY = os.path.join(boardconfig.ROOT, "lib", "druglib.json")


class InputError(Exception):
    """Bad input: the message names the file and the key."""


def load_json(path, what, damaged=""):
    """The JSON document in `path` (a `what` file); InputError in one line when it is missing, unreadable or not JSON
    (`damaged`: what that says of such a file)."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise InputError("%s: no such %s file" % (path, what)) from e
    except OSError as e:
        raise InputError("%s: cannot read (%s)" % (path, e.strerror)) from e
    except ValueError as e:
        raise InputError("%s: not valid JSON (%s)%s" % (path, e, damaged)) from e


def _scenario(doc, cfg, fill_ul, days, refill_every=None, start=None):
    events = []
    if refill_every is not None:
        if not refill_every > 0:  # t would never reach days
            raise InputError("--refill-every: %r days: allowed more than 0" % refill_every)
        t = refill_every
        while t < days:
            events.append({"at_h": t * 24, "type": "refill", "fill_ul": fill_ul})
            t += refill_every
    sc = {"version": 1, "days": days, "pump": cfg, "fill_ul": fill_ul, "events": events}
    if start is not None:  # the simulation runs from the report's fill date: weekly schedules on their weekdays
        sc["start"] = start.isoformat()
    sc.update(doc)
    sc.pop("confirm_soft_limits", None)
    sc["confirm_soft_limits"] = True  # checked (and confirmed or refused) before the simulation
    return sc


def simulation(doc, cfg, fill_ul, days=1, refill_every=None, library_path=LIBRARY, start=None):
    """A tools.sim.sim Simulation of `days` whose pump (the firmware's Pump on the simulated board) holds the fill and
    the prescription, refilled every `refill_every` days if given."""
    from tools.sim.scenario import Scenario, ScenarioError
    from tools.sim.sim import Simulation

    try:
        return Simulation(Scenario(_scenario(doc, cfg, fill_ul, days, refill_every, start)), library_path)
    except ScenarioError as e:
        raise InputError(str(e)) from e


def report(doc, cfg, fill_ul, start, library_path=LIBRARY):
    """The report dict for a checked prescription, a pump config, a fill volume and a start date."""
    sim = simulation(doc, cfg, fill_ul, library_path=library_path, start=start)
    pump = sim.pump
    t = pump.therapy
    nl = pump.nl_per_step
    conc = t.conc_ug_per_ml
    days = []
    for d in range(7):
        ng = t.daily_ng(d)
        vol_nl = ng * 1000 / conc
        days.append({"day": WEEKDAYS[d], "dose_ug": ng / 1000, "volume_ul": vol_nl / 1000, "steps": vol_nl / nl})
    rates = []  # one entry per distinct basal schedule, with the weekdays that follow it
    if t.mode != MODE_STOPPED:
        scheds = []
        for d in range(7):
            sched = t.schedule_for(d)
            for entry in scheds:
                if entry[0] == sched:
                    entry[1].append(WEEKDAYS[d])
                    break
            else:
                scheds.append((sched, [WEEKDAYS[d]]))
        for sched, names in scheds:
            rates.append({"days": names, "steps": [
                {"start": format_hhmm(start_ms), "dose_ug_per_day": ng_per_day / 1000,
                 "rate_ul_per_day": ng_per_day / conc,
                 "step_interval_s": nl * conc * 86.4 / ng_per_day if ng_per_day else None}
                for start_ms, ng_per_day in sched]})
    pb = t.patient_bolus
    bolus = None
    if pb is not None:
        vol_nl = pb.dose_ng * 1000 / conc
        bolus = {"dose_ug": pb.dose_ng / 1000, "volume_ul": vol_nl / 1000, "steps": vol_nl / nl,
                 "duration_min": pb.duration_ms // 60000, "lockout_min": pb.lockout_ms // 60000,
                 "max_per_day": pb.max_per_day}
    periodic = [{"start": format_hhmm(s), "dose_ug": ng / 1000, "volume_ul": ng / conc, "duration_min": ms // 60000,
                 "days": [WEEKDAYS[i] for i in range(7) if mask >> i & 1]} for s, ng, ms, mask in t.periodic_boluses]
    res = pump.reservoir
    worst_nl = usage_nl_per_day(t)  # heaviest day with every patient bolus: what the pump's status line uses
    state = pump.state(pump.hw.clock.ticks_ms())
    low_days, empty_days = state.low_days, state.empty_days
    avg_nl = -(-sum(t.daily_ng(d) for d in range(7)) * 1000 // (7 * conc))  # programmed week, no patient boluses
    avg_low, avg_empty = res.days_until(res.low_nl, avg_nl), res.days_until(res.empty_nl, avg_nl)

    def date(n):
        return None if n is None else (start + datetime.timedelta(days=n)).isoformat()

    return {
        "therapy": t.describe(),
        "drug": t.drug, "concentration_ug_per_ml": conc, "mode": ("stopped", "constant", "flex")[t.mode],
        "nl_per_step": nl,
        "days": days, "rates": rates, "patient_bolus": bolus, "periodic_boluses": periodic,
        "worst_day_volume_ul": worst_nl / 1000,
        "average_day_volume_ul": avg_nl / 1000,
        "reservoir": {
            "fill_ul": fill_ul, "low_ul": res.low_nl // 1000, "empty_ul": res.empty_nl // 1000,
            "start": start.isoformat(),
            "worst_case": {"low_days": low_days, "low_date": date(low_days),
                           "empty_days": empty_days, "empty_date": date(empty_days)},
            "programmed": {"low_days": avg_low, "low_date": date(avg_low),
                           "empty_days": avg_empty, "empty_date": date(avg_empty)},
        },
        "recommended_refill_date": date(refill_days(low_days, empty_days)), "refill_rule": REFILL_RULE,
        # the pump's own forecast on a new cell of the model at this program's worst case (pump.forecast)
        "battery_forecast": {"eri_days": state.eri_days, "eri_date": date(state.eri_days),
                             "eos_days": state.eos_days, "eos_date": date(state.eos_days),
                             "no_90_day_warning": state.battery_short,
                             "needs_confirmation": state.battery_short or (
                                 state.eri_days is not None and state.eri_days < ERI_DAYS)},
    }


def _group_days(days):
    """Weekdays with equal figures in runs: [("mon-fri", day), ("sat", day), ...]."""
    out = []
    i = 0
    while i < 7:
        j = i
        key = (days[i]["dose_ug"], days[i]["volume_ul"])
        while j + 1 < 7 and (days[j + 1]["dose_ug"], days[j + 1]["volume_ul"]) == key:
            j += 1
        out.append((days[i]["day"] + ("-" + days[j]["day"] if j > i else ""), days[i]))
        i = j + 1
    return out


def format_report(rep, source):
    r = rep["reservoir"]
    lines = ["prescription: %s" % rep["therapy"],
             "mechanism: %d nL/step (%s)" % (rep["nl_per_step"], source),
             "daily (basal + periodic boluses, no patient boluses):"]
    for label, d in _group_days(rep["days"]):
        lines.append("  %-8s %10.3f ug  %9.3f uL  %8.1f steps" % (label, d["dose_ug"], d["volume_ul"], d["steps"]))
    for sched in rep["rates"]:
        lines.append("basal rates%s:" % ("" if len(sched["days"]) == 7 else " on " + ",".join(sched["days"])))
        for rt in sched["steps"]:
            every = "a step every %.1f s" % rt["step_interval_s"] if rt["step_interval_s"] else "no steps"
            lines.append("  from %s: %.3f ug/day = %.3f uL/day, %s" % (
                rt["start"], rt["dose_ug_per_day"], rt["rate_ul_per_day"], every))
    pb = rep["patient_bolus"]
    if pb:
        lines.append("patient bolus: %.3f ug = %.3f uL = %.1f steps over %d min; lockout %d min, up to %d a day" % (
            pb["dose_ug"], pb["volume_ul"], pb["steps"], pb["duration_min"], pb["lockout_min"], pb["max_per_day"]))
    for p in rep["periodic_boluses"]:
        lines.append("periodic bolus at %s: %.3f ug = %.3f uL over %d min on %s" % (
            p["start"], p["dose_ug"], p["volume_ul"], p["duration_min"], ",".join(p["days"])))
    lines.append("volume a day: %.3f uL on average as programmed, %.3f uL on the heaviest day with every patient "
                 "bolus" % (rep["average_day_volume_ul"], rep["worst_day_volume_ul"]))

    def span(x):
        if x["low_days"] is None:
            return "never runs low"
        return "low on %s (%d days), empty on %s (%d days)" % (
            x["low_date"], x["low_days"], x["empty_date"], x["empty_days"])

    lines.append("reservoir %d uL from %s (low below %d uL, empty below %d uL):" % (
        r["fill_ul"], r["start"], r["low_ul"], r["empty_ul"]))
    lines.append("  worst case: %s" % span(r["worst_case"]))
    lines.append("  as programmed: %s" % span(r["programmed"]))
    b = rep["battery_forecast"]
    if b["eri_days"] is not None:
        lines.append("battery (a new cell, every patient bolus taken): elective replacement on %s (%d days), end of "
                     "service on %s (%d days)" % (b["eri_date"], b["eri_days"], b["eos_date"], b["eos_days"]))
    if b["no_90_day_warning"]:
        lines.append("battery: no 90-day replacement warning is possible at this rate: the pump refuses it unless "
                     "sent with --confirm-battery")
    elif b["needs_confirmation"]:
        lines.append("battery: elective replacement within 90 days at this rate: the pump refuses it unless sent with "
                     "--confirm-battery")
    lines.append("recommended refill date: %s (%s)" % (rep["recommended_refill_date"] or "none needed",
                                                       rep["refill_rule"]))
    return "\n".join(lines)
