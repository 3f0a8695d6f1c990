"""Discrete-event simulator: runs the firmware's own Pump on the simulated board in virtual time, checks every step.

    python -m tools.sim SCENARIO.json [--json OUT|-] [--plot OUT.png]
    python -m tools.sim SCENARIO.json --ble [--ble-stack rp2-btstack|esp32-nimble] [--transport usb:0] [--speed 60]
                                      [--seconds N] [--keys keys.json]

The same lib/pump objects the device runs are driven through `Pump.tick` (no re-implementation); virtual time jumps
straight to the next deadline or scenario event. At every wake-up the delivered steps are compared exactly with the
independent reference model (tools/sim/reference.py). Exit code 2 for a malformed scenario, naming the bad key.

With --ble the scenario runs in real time (`--speed` times faster) while the pump serves the firmware's BLE service
through Bumble (tools/sim/ble.py): on the in-process link, or on a real controller (`--transport usb:0`, any Bumble
transport) so a phone can connect. Exit code 3 when the controller cannot be reached.
"""

import argparse
import datetime
import json
import os
import sys

from board import sim as simboard
from board.sim.clock import SimRtc, VirtualClock
from board.sim.flash import FakeStorage
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant
from board.sim.roles import SimPressure
from pump import alarms as al
from pump import events as ev
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT, CommandAuth
from pump.compat import ticks_diff
from pump.config import RESET_POWER_ON, RESET_WATCHDOG, PumpConfig
from pump.controller import Pump
from pump.druglib import DrugLibrary
from pump.errors import E_STATE, MESSAGES, PumpError
from pump.eventlog import EventLog
from pump.forecast import REASON_NAMES
from pump.prescription import parse_prescription
from tools import ROOT
from tools.pumplink.history import trial_data
from tools.sim.reference import Reference
from tools.sim.scenario import HYDRAULIC_KEYS, ScenarioError, load

DAY_MS = 86400000
EPOCH = datetime.datetime(2000, 1, 1)
LIBRARY = os.path.join(ROOT, "lib", "druglib.json")
PRIORITY_NAMES = {al.PRIO_LOW: "low", al.PRIO_MEDIUM: "medium", al.PRIO_HIGH: "high"}


class Simulation:
    """One scenario run; `run()` returns the result dict (see README, scenario format). `advance(t)` runs the
    scenario up to pump time t (ms), so it can also be run piecewise in real time (tools/sim/ble.py)."""

    def __init__(self, scenario, library_path=LIBRARY, samples=2000):
        self.sc = scenario
        try:
            self.cfg = PumpConfig(scenario.pump_config)
        except PumpError as e:
            raise ScenarioError(e.detail) from e
        self.clock = VirtualClock()
        nl_true = scenario.plant.get("nl_per_step_true", self.cfg.nl_per_step)
        conc = scenario.prescription["drug"].get("concentration_ug_per_ml")
        self.plant = Plant(nl_per_step=nl_true, fill_ul=scenario.fill_ul,
                           battery_mah=scenario.plant.get("battery_mah", 2000), conc_ug_per_ml=conc or 0,
                           catheter_ul=self.cfg.catheter_volume_ul)
        self.storage = FakeStorage()
        self._seen_seq = 0  # every record from the first boot on: the alarms raised at boot are shown too
        self._carried = 0  # alarms active before a reset (bitmap): raised again at boot, they are not new
        # the simulated clock starts at 00:00 of the scenario's start date (tools.sim.scenario.START_DATE by default)
        self.start = datetime.datetime.combine(scenario.start, datetime.time())
        self.rtc = SimRtc(self.clock, int((self.start - EPOCH).total_seconds()))
        board_cfg = {"clock": self.clock, "plant": self.plant, "storage": self.storage, "rtc": self.rtc}
        self.hydraulics = None
        if any(k in scenario.plant for k in HYDRAULIC_KEYS):
            p = scenario.plant
            self.hydraulics = Hydraulics(
                self.clock, c_ul_per_kpa=p.get("compliance_ul_per_kpa", 0.16),
                r_kpa_s_per_ul=p.get("catheter_resistance_kpa_s_per_ul", 0.32), p_csf_kpa=p.get("csf_kpa", 1.2),
                seed=scenario.seed)
            self.hydraulics.attach(self.plant)
            board_cfg["pressure"] = SimPressure(self.hydraulics, scenario.seed,
                                                noise_kpa=p.get("sensor_noise_kpa", 0.05))
        self.hw = simboard.build(board_cfg)
        self.library = DrugLibrary.load(library_path)
        self.check_commands = True  # check the command counters at each boot (tools/sim/ble.py's service does it there)
        self.pump = self._boot()
        try:
            if scenario.fill_ul:  # the first fill needs the program's concentration, as the pump's parser reads it
                conc = parse_prescription(scenario.prescription, self.library, self.cfg.nl_per_step).conc_ug_per_ml
                self.pump.refill(scenario.fill_ul, conc)
            self.pump.program(scenario.prescription, confirm_battery=scenario.confirm_battery)
        except PumpError as e:
            raise ScenarioError("therapy: %s" % e) from e
        # the schedule runs on the patient's local time: the pump's UTC plus utc_offset_min
        self.local_start = self.start + datetime.timedelta(minutes=self.cfg.utc_offset_min)
        self.ref = Reference(scenario.prescription, self.cfg.nl_per_step, self.local_start,
                             self.cfg.prime_rate_nl_per_day)
        self.history = []  # every event record the pump logged, (seq, t_s, code, a, b), oldest first
        if scenario.trial is not None:  # its steps reach the reference through the log (TRIAL_STEP)
            try:
                self.pump.set_trial(scenario.trial, bool(scenario.prescription.get("confirm_soft_limits")))
            except PumpError as e:
                raise ScenarioError("trial: %s" % e) from e
        self.end_ms = int(scenario.days * DAY_MS)
        self.sample_ms = max(60000, self.end_ms // samples)
        self.wakeups = 0
        self.max_error = 0.0
        self.max_error_t_ms = 0
        self.alarms = []
        self.occlusions = []
        self.boluses = []
        self.commands = []
        self.refills = []  # each refill event: expected residual, aspirated, added, strength, discrepancy (0: none)
        self.resets = 0
        self.series = {k: [] for k in ("t_h", "reservoir_ul", "reservoir_true_ul", "delivered_ul", "ideal_ul",
                                       "rate_ul_per_day")}
        self.marks = []  # (t_h, label, granted) for the plot (tools/sim/marks.py groups them)
        self._line = None
        self._unmoved_nl = 0  # the volume of the steps the reference's catheter queue was moved back by
        self.alarms_at_boot = []  # raised by the first boot and set-up (no sensor; empty reservoir before the fill)
        self._at_boot = True
        self._drain_log(0)
        self._at_boot = False
        self._next_event = 0
        self._next_sample = 0
        self._last_rate = None

    def _boot(self):
        now = self.clock.ticks_ms()
        # numbering goes on after the newest readable record: maybe below the last seen
        self._seen_seq = min(self._seen_seq, EventLog(self.storage).open().last_seq)
        pump = Pump(self.hw, self.cfg, self.library, now)
        if self.check_commands:  # as the BLE service does at boot: lost counters raise their alarm
            self.auth = CommandAuth(self.storage, self.command_keys(),
                                    lambda code, a, b: pump.log.append(pump.wall_s(now), code, a, b), now,
                                    pump.safety.alarms)
        return pump

    def command_keys(self):
        """The command keys the pump boots with ({role: Hmac}); none here (verify/soak.py signs its commands)."""
        return None

    # ---- main loop ----
    def run(self):
        self.advance(self.end_ms)
        return self.finish()

    def advance(self, until_ms):
        """Every wake-up and scenario event up to `until_ms` of pump time; the clock then reads `until_ms`."""
        clock, plant, events = self.clock, self.plant, self.sc.events
        while True:
            t = clock.t_ms
            self._wake(t)
            before = plant.steps_forward
            deadline = self.pump.tick(clock.ticks_ms())
            self.wakeups += 1
            self._unmoved(t)
            self._check(t, before, plant.steps_forward)
            if self.pump.log.last_seq != self._seen_seq:
                self._drain_log(t)
            rate = (self.pump.plan.rate_num, self.pump.plan.rate_den)
            if t >= self._next_sample or rate != self._last_rate:
                self._sample(t)
                self._next_sample = t + self.sample_ms
                self._last_rate = rate
            next_t = t + max(ticks_diff(deadline, clock.ticks_ms()), 0)
            i = self._next_event
            if i < len(events) and events[i][0] <= min(next_t, until_ms):
                clock.t_ms = max(events[i][0], t)
                self._next_event = i + 1
                self._apply(events[i])
                continue
            if next_t > until_ms:
                break
            clock.t_ms = next_t
        clock.t_ms = until_ms

    def _unmoved(self, t):
        """Steps that moved no drug (the occlusion back-off drew it back, a jammed mechanism, a dry reservoir)
        move the reference's catheter queue back as they move the plant's."""
        plant = self.plant
        nl = plant.steps_forward * plant.nl_per_step - plant.pushed_nl - self._unmoved_nl
        if nl >= plant.nl_per_step:
            steps = nl // plant.nl_per_step
            self._unmoved_nl += steps * plant.nl_per_step
            if self.ref.old or self.ref.gone or self.ref.prime_end is not None:
                self.ref.advance(t)
                self.ref.shift(steps)
                self._line = None

    def finish(self):
        """The result once the clock has reached the scenario's end."""
        plant = self.plant
        self._check(self.end_ms, plant.steps_forward, plant.steps_forward)
        self._sample(self.end_ms)
        self.ref.advance(self.end_ms)
        return self.result()

    def _wake(self, t):
        """Called at every wake-up just before the tick (verify/soak.py looks at the state there)."""

    def _check(self, t, before, after):
        """Largest |delivered - ideal| in steps, just before and just after the steps of this wake-up."""
        line = self._line
        if line is None or t > line[3]:
            line = self._line = self.ref.line(t)
        a, b, y, _until = line
        x = a + t * b  # ideal * y, exact
        behind = (x - before * y) / y
        ahead = (after * y - x) / y
        worst = max(behind, ahead)
        if worst > self.max_error:
            self.max_error = worst
            self.max_error_t_ms = t

    def _sample(self, t):
        s = self.series
        p = self.pump
        s["t_h"].append(t / 3600000)
        s["reservoir_ul"].append(max(p.reservoir.remaining_nl, 0) / 1000)
        s["reservoir_true_ul"].append(self.plant.reservoir_nl / 1000)
        s["delivered_ul"].append(self.plant.delivered_nl / 1000)
        line = self.ref.line(t) if self._line is None or t > self._line[3] else self._line
        s["ideal_ul"].append((line[0] + t * line[1]) / line[2] * self.cfg.nl_per_step / 1000)
        s["rate_ul_per_day"].append(p.plan.rate_num / p.plan.rate_den / 1000)

    def _drain_log(self, t):
        for rec in self.pump.log.read(self._seen_seq + 1):
            self.history.append(rec)
            _seq, _ts, code, a, _b = rec
            if code == ev.TRIAL_STEP:  # the pump programmed the titration step itself: the reference follows
                self.ref.advance(t)
                self.ref.program(self.pump.therapy.to_doc())
                self._line = None
            elif code == ev.ALARM_RAISED:
                alarm = {"t_h": round(t / 3600000, 4), "code": a, "name": al.NAME[a],
                         "priority": PRIORITY_NAMES[al.PRIORITY[a]]}
                bit = 1 << (a - 1)
                if self._carried & bit:  # still active from before the reset: raised again at boot, not a new one
                    self._carried &= ~bit
                    alarm["again_after_reset"] = True
                (self.alarms_at_boot if self._at_boot else self.alarms).append(alarm)
                if not alarm.get("again_after_reset"):  # the plot marks an alarm when it is new
                    self.marks.append((t / 3600000, al.NAME[a].lower(), True))
                if a == al.A_OCCLUSION and self.occlusions and self.occlusions[-1]["alarm_h"] is None:
                    self._occlusion_alarm(t)
            elif code == ev.SUSPEND and a:  # a safety hold: the program stops, the reference with it
                self.ref.advance(t)
                self.ref.suspend()
                self._line = None
            elif code == ev.EMPTY_RESERVOIR:
                self.ref.advance(t)
                self.ref.set_cap(self.cfg.min_rate_at_empty_nl_per_day)
                self._line = None
        self._seen_seq = self.pump.log.last_seq

    # ---- scenario events ----
    def _apply(self, event):
        t, kind, e = event
        now = self.clock.ticks_ms()
        ref = self.ref
        ref.advance(t)
        self._line = None
        delivered = self.plant.steps_forward
        mark = len(self.marks)
        self.marks.append((t / 3600000, kind, True))  # (t_h, label, granted): a refusal is marked as one below
        try:
            if kind == "reset":
                self.hw.reset_cause = RESET_WATCHDOG if e.get("cause") == "watchdog" else RESET_POWER_ON
                before = self.pump.therapy
                self._carried = self.pump.alarms.active_bitmap
                self.pump = self._boot()
                self.resets += 1
                ref.rebase(delivered)
                self._follow_boot(before)
            elif kind == "patient_bolus":
                self._patient_bolus(t, now)
            elif kind == "clinician_bolus":
                self.pump.clinician_bolus(e["dose_ug"], e["duration_min"], now=now)
                ref.bolus(round(e["dose_ug"] * 1000), e["duration_min"] * 60000)
            elif kind == "refill":
                self.pump.refill(e["fill_ul"], e.get("concentration_ug_per_ml"), now, e.get("aspirated_ul"))
                conc = self.pump.plan.conc_ug_per_ml
                expected, aspirated, tol, diff = self.pump.last_refill
                self.refills.append({"t_h": t / 3600000, "expected_ul": expected, "aspirated_ul": aspirated,
                                     "true_ul": self.plant.reservoir_nl // 1000, "added_ul": e["fill_ul"],
                                     "concentration_ug_per_ml": conc, "tolerance_ul": tol, "discrepancy_ul": diff})
                self.plant.refill(e["fill_ul"], conc)
                # (the steps due at this instant go first: the command delivers them before it refills)
                ref.refill(conc, self.cfg.catheter_volume_ul * 1000, self.plant.steps_forward)
            elif kind == "suspend":
                self.pump.suspend(now)
                ref.suspend()
            elif kind == "resume":
                self.pump.resume(now)
                if self.pump.plan.running:  # a safety hold still in force keeps the pump (and the reference) still
                    ref.resume()
            elif kind == "stop":
                self.pump.stop(now)
                ref.program(self.pump.therapy.to_doc())
            elif kind == "prime":
                volume_ul = e.get("volume_ul", self.cfg.catheter_volume_ul)
                self.pump.prime(volume_ul, now=now)
                ref.prime(volume_ul * 1000, delivered)
            elif kind == "program":
                was_running = self.pump.plan.running
                self.pump.program(e["prescription"], now=now, confirm_battery=self.sc.confirm_battery)
                ref.program(e["prescription"])
                if not was_running and self.pump.plan.running:  # it ended a PROGRAM_FALLBACK hold
                    ref.rebase(self.plant.steps_forward)
                    ref.resume()
            elif kind in ("occlusion", "partial_occlusion", "occlusion_clear"):
                self._hydraulic_event(kind, e)
            elif kind == "sensor_fault":
                role = self.hw.pressure if e["sensor"] == "pressure" else self.hw.battery
                if role is None:
                    raise ScenarioError("events: sensor_fault on a %s sensor the board lacks" % e["sensor"])
                mode = None if e["mode"] == "none" else e["mode"]
                role.set_fault(mode) if e["sensor"] == "pressure" else setattr(role, "fault", mode)
            elif kind == "motor_stall":
                self.plant.jammed = True
            elif kind == "battery":
                self.hw.battery.set_percent(e["percent"])
            elif kind == "acknowledge":
                self.pump.acknowledge(0, now=now)
            elif kind == "resume_alarm":
                was_running = self.pump.plan.running
                if self.pump.resume_after_alarm(now=now):
                    raise PumpError(300, "resume: a safety condition is still present")
                if not was_running:  # (nothing held: the pump goes on as it was, boluses in progress too)
                    ref.rebase(self.plant.steps_forward)
                    if self.pump.plan.running:  # still suspended by the user: the program waits for their resume
                        ref.resume()
            elif kind == "pain_score":  # before the trial's start day a score is a baseline (the pump's rule)
                trial = self.pump.screening.trial
                baseline = trial is not None and self.pump.wall_s(now) // 86400 < trial.start_day
                self.pump.pain_score(e["score"], baseline, e.get("side_effects", 0), e.get("free_code", 0),
                                     ROLE_CLINICIAN if e.get("by") == "clinician" else ROLE_PATIENT, now)
            elif kind == "flash_corrupt":
                self._corrupt(e["store"], e["slot"])
            elif kind == "set_clock":  # the clinician sets the clock shift_min off what it reads (whole seconds)
                wall_ms = ref.wall_ms(t)
                new_s = wall_ms // 1000 + round(e["shift_min"] * 60)  # local: the reference's clock
                self.pump.set_clock(new_s - self.cfg.utc_offset_min * 60, now=now)  # the pump is set in UTC
                if new_s != wall_ms // 1000:  # the second the clock already reads changes nothing, not even its ms
                    ref.set_clock(new_s * 1000 - wall_ms)
            self.commands.append({"t_h": t / 3600000, "type": kind, "ok": True})
        except PumpError as err:
            self.commands.append({"t_h": t / 3600000, "type": kind, "ok": False, "code": err.code, "error": str(err)})
            self.marks[mark] = (t / 3600000, "%s refused" % kind, False)
        if self.pump.log.last_seq != self._seen_seq:
            self._drain_log(t)
        self._carried = 0  # only the boot right after a reset raises the carried alarms again

    def _follow_boot(self, before):
        """The reference follows what the pump restarted with: another program (a fallback to an older one in the
        store), or none running (a hold found at boot)."""
        therapy = self.pump.therapy
        if therapy != before and therapy is not None:
            self.ref.program(therapy.to_doc())
        if not self.pump.plan.running:
            self.ref.suspend()

    def _corrupt(self, store, slot):
        """Flip a bit in the slots of a store (a: the first record a store writes, b: the second; they alternate),
        in the middle of the record; for the event log, in every record of segment log.0 (a) or log.1 (b). Returns
        the names of the blobs hit."""
        names = ("a", "b") if slot == "both" else (slot,)
        if store == "log":
            names = tuple("log.%d" % "ab".index(n) for n in names)
        else:
            names = tuple("%s.%s" % (store, n) for n in names)
        hit = []
        for name in names:
            blob = self.storage.blobs.get(name)
            if not blob:
                continue
            offsets = range(4, len(blob), 24) if store == "log" else (len(blob) // 2,)
            for off in offsets:
                blob[off] ^= 0x10
            hit.append(name)
        if not hit:
            raise PumpError(E_STATE, "flash_corrupt: no %s slot %s written yet" % (store, slot))
        return hit

    def _occlusion_alarm(self, t):
        o = self.occlusions[-1]
        self.hydraulics.advance()
        pumped_nl = (self.plant.steps_forward - o.pop("_steps0")) * self.plant.nl_per_step
        reached_nl = self.plant.delivered_nl - o.pop("_delivered0")
        o["alarm_h"] = round(t / 3600000, 4)
        o["undelivered_ul"] = round((pumped_nl - reached_nl) / 1000, 3)

    def _hydraulic_event(self, kind, e):
        hyd = self.hydraulics
        if hyd is None:
            raise ScenarioError("%s: needs the hydraulic plant (plant.compliance_ul_per_kpa ...)" % kind)
        if kind in ("occlusion", "partial_occlusion"):
            hyd.advance()
            self.occlusions.append({"onset_h": round(self.clock.t_ms / 3600000, 4), "kind": kind, "alarm_h": None,
                                    "undelivered_ul": None, "bolus_after_clear_ul": None,
                                    "_steps0": self.plant.steps_forward, "_delivered0": self.plant.delivered_nl})
            hyd.occlude() if kind == "occlusion" else hyd.partial(e["resistance_x"])
        else:
            bolus_nl = hyd.clear()
            if self.occlusions:
                o = self.occlusions[-1]
                o["bolus_after_clear_ul"] = round(bolus_nl / 1000, 3)
                o.pop("_steps0", None)
                o.pop("_delivered0", None)

    def _patient_bolus(self, t, now):
        try:
            self.pump.patient_bolus(now)
        except PumpError as err:
            self.boluses.append({"t_h": t / 3600000, "granted": False, "reason": MESSAGES.get(err.code, ""),
                                 "code": err.code})
            raise
        self.ref.patient_bolus()
        self.boluses.append({"t_h": t / 3600000, "granted": True, "reason": "", "code": 0})

    # ---- report ----
    def battery_forecast(self):
        return battery_forecast_of(self.pump, self.start, self.clock.t_ms)

    def result(self):
        p = self.pump
        days = self.end_ms / DAY_MS
        writes = self.storage.writes
        return {
            "days": days,
            "steps": self.plant.steps_forward,
            "delivered_ul": self.plant.delivered_nl / 1000,
            "programmed_ul": float(self.ref.ideal) * self.cfg.nl_per_step / 1000,
            "delivered_ug": round(self.plant.delivered_ug, 3),
            "programmed_ug": round(float(self.ref.mass_ng) / 1000, 3),
            "max_error_steps": round(self.max_error, 6),
            "max_error_at_h": round(self.max_error_t_ms / 3600000, 4),
            "reservoir_ul": max(p.reservoir.remaining_nl, 0) / 1000,
            "reservoir_true_ul": self.plant.reservoir_nl / 1000,
            "alarms": self.alarms,
            "alarms_at_boot": self.alarms_at_boot,
            "alarms_active": [al.NAME[c] for c in sorted(al.NAME) if self.pump.alarms.is_active(c)],
            "occlusions": self.occlusions,
            "boluses": self.boluses,
            "commands": self.commands,
            "refills": self.refills,
            "battery_forecast": self.battery_forecast(),
            "wakeups": self.wakeups,
            "wakeups_per_day": round(self.wakeups / days, 1) if days else 0,
            "store_writes": writes,
            "store_writes_per_day": round(writes / days, 1) if days else 0,
            "resets": self.resets,
            "reference_rebases": self.ref.rebases,
            "mode": p.state_name,
            "trial": trial_data(self.history),
            "history": [list(r) for r in self.history],
        }


def battery_forecast_of(pump, start, t_ms):
    """The pump's battery forecast at the end as the result shows it: days and dates (None: not computed, with why)."""
    f = pump.forecast
    today = (start + datetime.timedelta(milliseconds=t_ms)).date()

    def date(days):
        return None if days is None else (today + datetime.timedelta(days=days)).isoformat()

    confirmed = [a for _s, _t, code, a, _b in pump.log.read() if code == ev.BATTERY_CONFIRMED]
    return {"eri_days": f.eri_days, "eos_days": f.eos_days, "eri_date": date(f.eri_days),
            "eos_date": date(f.eos_days), "reason": REASON_NAMES[f.reason], "uah_per_day": f.uah_per_day,
            "measured": f.measured, "no_90_day_warning": pump.safety.battery_short,
            "programs_confirmed": len(confirmed)}


def summary(res):
    lines = [
        "days %.2f: delivered %.1f uL of %.1f uL programmed in %d steps; max error %.3f steps (at %.2f h)" % (
            res["days"], res["delivered_ul"], res["programmed_ul"], res["steps"], res["max_error_steps"],
            res["max_error_at_h"]),
        "drug delivered %.1f ug of %.1f ug programmed" % (res["delivered_ug"], res["programmed_ug"]),
        "reservoir %.1f uL (true %.1f uL); wake-ups %d (%.0f/day); store writes %d (%.1f/day); resets %d" % (
            res["reservoir_ul"], res["reservoir_true_ul"], res["wakeups"], res["wakeups_per_day"],
            res["store_writes"], res["store_writes_per_day"], res["resets"]),
    ]
    granted = sum(1 for b in res["boluses"] if b["granted"])
    new = [a for a in res["alarms"] if not a.get("again_after_reset")]  # an alarm a reset raises again is not new
    lines.append("patient boluses %d granted, %d refused; alarms at boot %s; alarms %s; active at the end: %s" % (
        granted, len(res["boluses"]) - granted, ", ".join(a["name"] for a in res["alarms_at_boot"]) or "none",
        ", ".join("%s@%.1fh" % (a["name"], a["t_h"]) for a in new) or "none",
        ", ".join(res["alarms_active"]) or "none"))
    refused = {}
    for c in res["commands"]:
        if not c["ok"]:
            key = "%s: E%d %s" % (c["type"], c["code"], MESSAGES.get(c["code"], ""))
            refused.setdefault(key, []).append(c["t_h"])
    for key, times in sorted(refused.items()):
        lines.append("refused %dx %s (first at %.2f h)" % (len(times), key, times[0]))
    b = res["battery_forecast"]
    if b["eri_days"] is None:
        lines.append("battery: no forecast: %s" % b["reason"])
    else:
        lines.append("battery: elective replacement %s (in %d days), end of service %s (%d days), at %d uAh/day%s" % (
            b["eri_date"], b["eri_days"], b["eos_date"], b["eos_days"], b["uah_per_day"],
            "" if b["measured"] else " (planned)"))
    for r in res["refills"]:
        if r["discrepancy_ul"]:
            lines.append("refill at %.1f h: expected %d uL, aspirated %d uL: discrepancy %+d uL" % (
                r["t_h"], r["expected_ul"], r["aspirated_ul"], r["discrepancy_ul"]))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.sim", description=__doc__.split("\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON (- for stdout)")
    ap.add_argument("--plot", metavar="OUT.png", help="write a plot of reservoir, delivery and rate")
    ap.add_argument("--ble", action="store_true", help="serve the pump's BLE service, the scenario in real time")
    ap.add_argument("--transport", metavar="SPEC", help="with --ble: a Bumble transport (usb:0, serial:...); "
                    "default: the in-process link")
    ap.add_argument("--speed", type=float, help="with --ble: pump time per real time (default 60)")
    ap.add_argument("--seconds", type=float, help="with --ble: stop after this many real seconds")
    ap.add_argument("--keys", metavar="FILE", help="with --ble: command keys (default: keys.json if present)")
    ap.add_argument("--ble-stack", metavar="PROFILE", help="with --ble: the board's stock BLE stack to serve as: "
                    "rp2-btstack (Pico W, no pairing) or esp32-nimble (pairing); default PUMP_BLE_STACK, else "
                    "esp32-nimble")
    args = ap.parse_args(argv)
    if not args.ble:  # options that would do nothing are refused, not ignored
        for option in ("transport", "speed", "seconds", "keys", "ble_stack"):
            if getattr(args, option) is not None:
                print("sim: --%s: only with --ble (it would do nothing without)" % option.replace("_", "-"),
                      file=sys.stderr)
                return 2
    from board.sim.radio import PROFILES, profile_from_env

    if args.ble_stack is not None and args.ble_stack not in PROFILES:
        print("sim: --ble-stack: %r: allowed %s" % (args.ble_stack, ", ".join(PROFILES)), file=sys.stderr)
        return 2
    if args.ble:
        try:
            args.ble_stack = args.ble_stack or profile_from_env()
        except ValueError as e:
            print("sim: %s" % e, file=sys.stderr)
            return 2
    if args.speed is None:
        args.speed = 60
    elif not 0 < args.speed <= 86400:
        print("sim: --speed: %g: allowed more than 0, at most 86400" % args.speed, file=sys.stderr)
        return 2
    if args.plot:
        import tools.sim.plot  # noqa: F401 - matplotlib missing: one line (tools.cli) before the run
    for option, out in (("--json", args.json), ("--plot", args.plot)):  # a folder to make, or a refusal, first
        if out and out != "-":
            try:
                os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
                if not os.access(os.path.dirname(out) or ".", os.W_OK):
                    raise PermissionError(13, "permission denied")
            except OSError as e:
                print("sim: %s: %s: cannot write (%s)" % (option, out, e.strerror), file=sys.stderr)
                return 2
    try:
        sim = Simulation(load(args.scenario))
    except ScenarioError as e:
        print("scenario error: %s: %s" % (args.scenario, e), file=sys.stderr)
        return 2
    if args.ble:
        code = _serve_ble(sim, args)
        if code:
            return code
        res = sim.finish()
    else:
        res = sim.run()
    if args.json == "-":
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        print(summary(res))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
    if args.plot:
        from tools.sim.plot import plot

        plot(sim, args.plot, title=os.path.basename(args.scenario))
    return 0


def _serve_ble(sim, args):
    """Serve until the scenario's end, --seconds or Ctrl-C; the result then covers the pump time that ran."""
    import asyncio

    from tools.keys.keys import KeysError
    from tools.sim import ble as simble

    path = args.keys or os.path.join(ROOT, "keys.json")
    try:
        keys = simble.load_keys(path) if args.keys or os.path.exists(path) else None
    except KeysError as e:
        print("keys: %s" % e, file=sys.stderr)
        return 2
    out = (lambda text: print(text, file=sys.stderr)) if args.json == "-" else print
    try:
        bsim = asyncio.run(simble.serve(sim, keys=keys, transport=args.transport, speed=args.speed,
                                        seconds=args.seconds, out=out, profile=args.ble_stack))
        out("BLE: commands accepted up to counter %d (clinician), %d (patient); the reference check follows the "
            "scenario's own events only" % bsim.counters())
    except simble.ServeError as e:
        print(e, file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        pass
    sim.end_ms = sim.clock.t_ms
    return 0

