"""Long soak: years of pump life in the simulator with random resets, refills (stacked concentration changes too),
boluses, program changes, clock corrections, suspends and holds of weeks, storage faults, sensor noise, occlusions,
sensor faults, stalls and battery events; invariants checked at every wake-up (verify/soakcheck.py). Seeded,
deterministic.

    python -m verify.soak [--days 3650] [--seed 1] [--ml-per-day R] [--json OUT]
                                                    (make soak; CI runs one year in host_tests)

The firmware's own Pump runs on the simulated board through tools.sim.sim.Simulation (hydraulic plant, catheter line,
pressure noise, exact reference). Every command is signed and authenticated as over BLE (pump.cmdauth), so the
command counters are stored as on a pump. Random events arrive as Poisson processes. Programs are drawn from 0.025
to 0.5 mL/day; `--ml-per-day R` holds every program at R instead (morphine at 10 mg/mL, constant rate, refills of
the same strength) to soak one rate. Drawn from random streams of their own (so the other events keep their draws):

- clock corrections, about monthly, by minutes, hours, a day or a year either way (a day and a year twice as
  often as the others), sometimes several within a day;
- stacked concentration changes: two to six refills with different strengths within the time the catheter takes
  to clear, so old drugs queue up in it (more than four merge in the pump's queue);
- suspends of 7 to 42 days (one suspend in three) and holds as long (a fault one time in five not cleared for
  weeks), past the 6.2-day horizon of the ticks;
- storage faults: a bit flipped in one slot or both of the state, program, command-counter or event-log store,
  read back by a reset within a minute.

The simulated clinician reacts to the alarms as a clinic would: a refill after a low reservoir, a new battery after
ERI or EOS, the line cleared and dosing resumed after an occlusion; after a storage fault (docs/safety.md, the
soak's clinic): STORE_CORRUPT is acknowledged at the next visit (the pump runs on the other slot); STATE_LOST is
answered by refilling with the drug the clinic's record says (the pump's estimate is gone) and then confirming
(resume after alarm); PROGRAM_FALLBACK by programming the prescription of the clinic's record again (a new program
ends that hold: the pump must never run what nobody prescribed last); COMMAND_COUNTERS_LOST by provisioning new keys
over USB and restarting the pump, every command waiting until then (patient boluses are refused meanwhile).
"""

import argparse
import bisect
import json
import random
import struct
import sys
import time

from pump import alarms as al
from pump import commands as op
from pump.cmdauth import ROLE_CLINICIAN, ROLE_PATIENT, parse_keys
from pump.druglib import DrugLibrary
from pump.errors import E_COUNTER_AHEAD, E_COUNTERS_LOST, E_REPLAY, MESSAGES, PumpError
from pump.hmac import hmac_sha256
from pump.reservoir import STATE_EMPTY, STATE_LOW
from pump.prescription import parse_prescription
from tools.sim.scenario import Scenario
from tools.sim.sim import DAY_MS, LIBRARY
from verify.soakcheck import HOUR_MS, MAX_BOLUS_UG, NL_PER_STEP, SoakChecks

CLOCK_SHIFTS_MIN = (-525600, -525600, -1440, -1440, -720, -90, -7, -1, 1, 3, 15, 180, 720, 1440, 1440, 525600,
                    525600)
CONCENTRATIONS = (10000, 20000)
STRENGTHS = (5000, 10000, 15000, 20000, 25000)  # of the stacked concentration changes
DOSES_UG = (500, 1000, 2000, 3000, 5000)  # 0.025 to 0.5 mL/day at 10 and 20 mg/mL
PATIENT_BOLUS = {"dose_ug": 100, "duration_min": 10, "lockout_min": 120, "max_per_day": 4}
FAULTS = ("occlusion", "occlusion", "partial_occlusion", "pressure_fault", "pressure_fault", "motor_stall",
          "battery_fault", "battery_drop")
LONG_FAULTS = ("occlusion", "pressure_fault", "motor_stall")  # what may wait weeks for a clinic (a revision)
PRESSURE_MODES = ("stuck", "open", "open_high", "noisy", "out_of_range")
BATTERY_MODES = ("stuck", "open", "noisy")
STORES = ("state", "prog", "cmdauth", "log")
LONG_MS = 1 << 29  # the ticks horizon (6.2 days): ticks_diff is valid only within it
_OPS = {"patient_bolus": op.OP_PATIENT_BOLUS, "clinician_bolus": op.OP_CLINICIAN_BOLUS, "program": op.OP_PROGRAM,
        "refill": op.OP_REFILL, "prime": op.OP_PRIME, "suspend": op.OP_SUSPEND, "resume": op.OP_RESUME,
        "resume_alarm": op.OP_RESUME_ALARM, "acknowledge": op.OP_ACKNOWLEDGE, "set_clock": op.OP_SET_CLOCK,
        "stop": op.OP_STOP}
_STORE_HOLDS = (1 << (al.A_STATE_LOST - 1)) | (1 << (al.A_PROGRAM_FALLBACK - 1))


class Soak(SoakChecks):
    """One soak run; `run()` returns the Simulation result plus `soak` (counts, invariant checks, violations)."""

    def __init__(self, days=365, seed=1, ml_per_day=None):
        self.rng = random.Random(seed)
        self.clock_rng = random.Random(seed * 7919 + 1)  # clock corrections and the programs' weekdays
        self.more_rng = random.Random(seed * 104729 + 3)  # stacked refills, long suspends and holds, storage faults
        self.key_rng = random.Random(seed * 1299709 + 5)
        self.ml_per_day = ml_per_day
        self._new_keys()
        self.counter = {ROLE_CLINICIAN: 0, ROLE_PATIENT: 0}  # the phone's and the programmer's
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
        scenario = Scenario(doc)
        super().__init__(scenario, NL_PER_STEP * max(STRENGTHS + CONCENTRATIONS) * 1003 // 1000)
        self.conc = conc  # the clinic's record: the drug in the reservoir and the program last given
        self.rx = scenario.prescription
        self.counts = dict.fromkeys((
            "resets", "watchdog_resets", "refills", "new_strengths", "stacks", "stacked_refills", "queue_merges",
            "patient_boluses", "clinician_boluses", "programs", "suspends", "long_suspends", "long_holds", "primes",
            "faults", "battery_replacements", "resume_retries", "clock_sets", "clock_sets_refused",
            "store_faults", "store_faults_unwritten", "key_provisions", "commands_waiting_for_keys",
            "patient_boluses_refused_without_counters"), 0)
        self.clock_sizes = {}  # accepted corrections by size (min)
        self.store_faults = {}  # "store slot": count
        self.faults = {}
        self.fault_active = None  # the injected fault in progress (one at a time)
        self._suspended_t = None
        self._held_t = None
        self._resume_after = 0  # a hold waiting for a clinic weeks away: no resume before then
        self._pending_refill = False
        self._pending_battery = False
        self._resume_pending = False
        self._store_visit = False
        self._keys_visit = False
        self._ack_visit = False
        self._empty_seen = False
        self._eos_seen = False
        self._deferred = []  # commands waiting for new keys
        for kind, mean_days in (("reset", 20), ("patient_bolus", 0.3), ("clinician_bolus", 45), ("program", 60),
                                ("suspend", 90), ("fault", 40)):
            self._next(kind, mean_days)
        self._next_clock()
        for kind, mean_days in (("stack", 120), ("store", 40), ("prime", 400)):
            self._next(kind, mean_days, self.more_rng)

    def _dose_ug(self, conc, dose_ug):
        """The daily dose of a program: `dose_ug`, or the one giving --ml-per-day at `conc`."""
        return dose_ug if self.ml_per_day is None else round(self.ml_per_day * conc)

    # ---- commands: signed as over BLE ----
    def _new_keys(self):
        self.keys = {name: bytes(self.key_rng.getrandbits(8) for _ in range(32)) for name in ("clinician", "patient")}

    def command_keys(self):
        return parse_keys({name: key.hex() for name, key in self.keys.items()})

    def _authorised(self, event):
        """Sign the command and let the pump's CommandAuth judge it; False when it is not to run now: with the
        counters lost a patient bolus is refused, any other command waits for the new keys."""
        t, kind, _e = event
        role = ROLE_PATIENT if kind == "patient_bolus" else ROLE_CLINICIAN
        code = self._verify(kind, role)
        if code in (E_REPLAY, E_COUNTER_AHEAD):  # new keys, fresh counters: sign again just above the pump's
            self.counter[role] = self.auth.last_counter(role)
            code = self._verify(kind, role)
        if code == 0:
            return True
        self.commands.append({"t_h": t / HOUR_MS, "type": kind, "ok": False, "code": code,
                              "error": MESSAGES.get(code, "")})
        if code != E_COUNTERS_LOST:
            self._violation(t, "%s refused by the command authentication: E%d" % (kind, code))
        elif kind == "patient_bolus":
            self.counts["patient_boluses_refused_without_counters"] += 1
            self.boluses.append({"t_h": t / HOUR_MS, "granted": False, "reason": MESSAGES[code], "code": code})
        else:
            self.counts["commands_waiting_for_keys"] += 1
            self._deferred.append(event)
        return False

    def _verify(self, kind, role):
        self.counter[role] += 1
        body = struct.pack("<BBI", _OPS[kind], role, self.counter[role])
        msg = bytearray(body + hmac_sha256(self.keys["patient" if role == ROLE_PATIENT else "clinician"], body))
        return self.auth.verify(msg, len(msg), self.clock.ticks_ms(), op.roles_for)

    # ---- event scheduling ----
    def _at(self, t_ms, kind, **e):
        if t_ms >= self.end_ms:
            return
        e["type"] = kind
        bisect.insort(self.sc.events, (int(t_ms), kind, e), key=lambda ev: ev[0])

    def _next(self, kind, mean_days, rng=None):
        t = self.clock.t_ms + int((rng or self.rng).expovariate(1.0 / mean_days) * DAY_MS) + 1
        self._at(t, "soak_" + kind, mean_days=mean_days, stream=rng is not None)

    def _next_clock(self):
        """The next clock correction, about monthly; one time in four two to four within hours (the fourth within
        a day is refused: pump.phases)."""
        rng = self.clock_rng
        t = self.clock.t_ms + int(rng.expovariate(1.0 / 30) * DAY_MS) + 1
        for k in range(rng.choice((2, 3, 4)) if rng.random() < 0.25 else 1):
            self._at(t + int(k * rng.uniform(0.5, 6) * HOUR_MS), "set_clock", shift_min=rng.choice(CLOCK_SHIFTS_MIN))
        self._at(t, "soak_clock")

    def _later(self, h_lo, h_hi, rng=None):
        return self.clock.t_ms + int((rng or self.rng).uniform(h_lo, h_hi) * HOUR_MS)

    def _apply(self, event):
        t, kind, e = event
        if kind.startswith("soak_"):
            self._soak_event(kind[5:], e)
            return
        if kind in _OPS and not self._authorised(event):
            return
        p = self.pump
        was_suspended = p.suspended
        strength = p.plan.conc_ug_per_ml
        super()._apply(event)
        ok = self.commands[-1]["ok"]
        if kind == "reset":
            self.counts["resets"] += 1
            self.counts["watchdog_resets"] += e.get("cause") == "watchdog"
        elif kind == "set_clock":
            self.counts["clock_sets" if ok else "clock_sets_refused"] += 1
            if ok:
                self.clock_sizes[e["shift_min"]] = self.clock_sizes.get(e["shift_min"], 0) + 1
        elif kind == "refill" and ok:
            self._refilled(e, strength)
        elif kind == "program" and ok:
            self.counts["programs"] += 1
            self.rx = e["prescription"]
        elif kind == "suspend" and ok and not was_suspended:
            self._suspended_t = t
        elif kind == "resume" and ok and was_suspended and self._suspended_t is not None:
            self.counts["long_suspends"] += t - self._suspended_t > LONG_MS
            self._suspended_t = None
        elif kind == "flash_corrupt":
            key = "%s %s" % (e["store"], e["slot"])
            self.store_faults[key] = self.store_faults.get(key, 0) + 1
            self.counts["store_faults" if ok else "store_faults_unwritten"] += 1
        elif kind == "resume_alarm":
            if ok:
                self._resume_pending = False
                self._at(self._later(0.05, 0.2), "acknowledge")
            else:  # the pressure is still settling, the part not yet replaced...: the clinician tries again
                self.counts["resume_retries"] += 1
                self._at(self._later(1, 3), "resume_alarm")

    def _refilled(self, e, strength):
        self.counts["refills"] += 1
        self._pending_refill = False
        conc = e.get("concentration_ug_per_ml") or self.conc
        self.conc = conc
        self.rx = json.loads(json.dumps(self.rx))  # the prescription at the strength the pump now holds
        self.rx["drug"]["concentration_ug_per_ml"] = conc
        if strength and conc != strength:
            self.counts["new_strengths"] += 1
            line = self.plant.line
            if sum(1 for v in line.nl[line.tip:] if v > 0) > 4:  # more old drugs than the pump's queue holds
                self.counts["queue_merges"] += 1

    def _soak_event(self, kind, e):
        rng = self.more_rng if e.get("stream") else self.rng
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
            self._refill_at(now, rng.choice((20000, 30000, 40000)),
                            rng.choice(CONCENTRATIONS) if rng.random() < 0.3 and self.ml_per_day is None else None)
            self._at(now + int(0.1 * HOUR_MS), "acknowledge")
            return
        if kind in ("state_visit", "keys_visit"):
            self._visit(kind, now)
            return
        self._next(kind, e["mean_days"], rng if e.get("stream") else None)
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
            self._at(now, "program", prescription=self._prescription())
        elif kind == "suspend":
            self.counts["suspends"] += 1
            self._at(now, "suspend")
            long = self.more_rng.random() < 1 / 3
            self._at(now + int(self.more_rng.uniform(7, 42) * DAY_MS) if long else self._later(0.5, 12), "resume")
        elif kind == "fault" and self.fault_active is None:
            self._inject(rng.choice(FAULTS))
        elif kind == "stack" and self.ml_per_day is None:
            self._stack()
        elif kind == "store":
            self._store_fault()
        elif kind == "prime" and self.pump.plan.running and not self.pump.safety.holding:
            # a catheter revision: the new catheter is primed with the reservoir's drug while therapy is suspended
            self.counts["primes"] += 1
            self._at(now, "suspend")
            self._at(now + 1000, "prime")
            self._at(now + int(0.5 * HOUR_MS), "resume")

    def _refill_at(self, t, fill_ul, conc):
        """A refill the clinic can do: a strength the prescription allows (the programmer checks it first), stated
        with every refill (after a lost state the pump knows none)."""
        if conc is None or not self._allowed(conc):
            conc = self.conc
        self._at(t, "refill", fill_ul=fill_ul, concentration_ug_per_ml=conc)

    def _allowed(self, conc):
        rx = json.loads(json.dumps(self.rx))
        rx["drug"]["concentration_ug_per_ml"] = conc
        try:
            parse_prescription(rx, self.library or DrugLibrary.load(LIBRARY), self.cfg.nl_per_step)
        except PumpError:
            return False
        return True

    def _stack(self):
        """Two to six refills with different strengths within the time the catheter takes to clear at the program's
        heaviest rate, so the old drugs queue up in the catheter (beyond four they merge in the pump's queue)."""
        rng = self.more_rng
        now = self.clock.t_ms
        heaviest_ug = float(self.ledger.programs[-1][1].heaviest_ng(DAY_MS)) / 1000 or 1
        clear_ms = self.cfg.catheter_volume_ul / 1000 * self.conc / heaviest_ug * DAY_MS  # at the strength now
        n = rng.choice((2, 2, 3, 3, 5, 6))
        self.counts["stacks"] += 1
        self.counts["stacked_refills"] += n
        conc = self.conc
        for k in range(n):
            choices = [c for c in STRENGTHS if c != conc and self._allowed(c)]
            if not choices:
                return
            conc = rng.choice(choices)
            t = now + int(clear_ms * rng.uniform(0.3, 0.9) * k / max(n - 1, 1))
            self._at(t, "refill", fill_ul=rng.choice((20000, 30000, 40000)), concentration_ug_per_ml=conc)
        self._at(now + int(clear_ms) + int(0.1 * HOUR_MS), "acknowledge")

    def _store_fault(self):
        """A bit flipped in one slot or both of a store, read back by a reset within a minute."""
        rng = self.more_rng
        now = self.clock.t_ms
        self._at(now, "flash_corrupt", store=rng.choice(STORES), slot=rng.choice(("a", "b", "both")))
        self._at(now + rng.randrange(60000), "reset", cause="power_on")

    def _prescription(self):
        rng = self.rng
        conc = self.conc
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
        weeks = fault in LONG_FAULTS and self.more_rng.random() < 0.2  # waits weeks for a revision
        if fault in ("occlusion", "partial_occlusion"):
            clear_t = self._later(2, 30)
            if fault == "occlusion":
                self._at(now, "occlusion")
            else:
                self._at(now, "partial_occlusion", resistance_x=rng.choice((5, 20, 100)))
        elif fault == "pressure_fault":
            clear_t = self._later(1, 24)
            self._at(now, "sensor_fault", sensor="pressure", mode=rng.choice(PRESSURE_MODES))
        elif fault == "motor_stall":
            clear_t = self._later(1, 24)
            self._at(now, "motor_stall")
        elif fault == "battery_fault":
            clear_t = self._later(72, 120)  # longer than the 64 hourly samples a stuck reading needs
            self._at(now, "sensor_fault", sensor="battery", mode=rng.choice(BATTERY_MODES))
        else:  # battery_drop: a cell failing early; the clinician reacts to the ERI/EOS alarm it brings
            clear_t = now
            self._at(now, "battery", percent=rng.choice((0, 1, 3, 6, 9)))
        if weeks:
            clear_t = now + int(self.more_rng.uniform(7, 42) * DAY_MS)
            self._resume_after = clear_t
        if fault in ("occlusion", "partial_occlusion"):
            self._at(clear_t, "occlusion_clear")
        elif fault in ("pressure_fault", "battery_fault"):
            self._at(clear_t, "sensor_fault", sensor=fault[:-6], mode="none")
        elif fault == "motor_stall":
            self._at(clear_t, "soak_unjam")
        self.fault_active = (fault, clear_t)
        self._at(clear_t + int(0.2 * HOUR_MS), "acknowledge")
        self._at(clear_t + int(0.3 * HOUR_MS), "soak_fault_done")

    # ---- the clinician: reacts to the alarms ----
    def _react(self):
        p = self.pump
        alarms = p.safety.alarms
        rng = self.rng
        now = self.clock.t_ms
        holding = p.safety.holding
        if holding and self._held_t is None:
            self._held_t = now
        elif not holding and self._held_t is not None:
            self.counts["long_holds"] += now - self._held_t > LONG_MS
            self._held_t = None
        if holding & _STORE_HOLDS:
            if not self._store_visit:  # a clinic visit: refill and confirm, or program again (module docstring)
                self._store_visit = True
                self._at(self._later(1, 24, self.more_rng), "soak_state_visit")
        elif holding and not self._resume_pending:  # looked at within hours (or at a revision), resumed when clear
            self._resume_pending = True
            self._at(max(now, self._resume_after) + self._later(1, 6) - now, "resume_alarm")
        if not holding & _STORE_HOLDS:
            self._store_visit = False
        if not alarms.is_active(al.A_COMMAND_COUNTERS_LOST):
            self._keys_visit = False
        elif not self._keys_visit:
            self._keys_visit = True
            self._at(self._later(2, 48, self.more_rng), "soak_keys_visit")
        if alarms.is_active(al.A_STORE_CORRUPT) and not alarms.is_acknowledged(al.A_STORE_CORRUPT):
            if not self._ack_visit:
                self._ack_visit = True
                self._at(self._later(2, 72, self.more_rng), "acknowledge")
        else:
            self._ack_visit = False
        state = p.reservoir.state
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

    def _visit(self, kind, now):
        """The clinic's answer to a storage fault's alarm (module docstring)."""
        if kind == "keys_visit":  # new keys over USB, then a restart: the pump reads them at boot
            self.counts["key_provisions"] += 1
            self.counters_doubt = False
            self._new_keys()
            self._at(now, "reset", cause="power_on")
            for k, (_t, kind_, e) in enumerate(self._deferred):
                self._at(now + 1000 * (k + 1), kind_, **{key: v for key, v in e.items() if key != "type"})
            self._deferred = []
            return
        holding = self.pump.safety.holding
        if holding & (1 << (al.A_STATE_LOST - 1)):
            self._refill_at(now, self.more_rng.choice((20000, 30000, 40000)), self.conc)
        if holding & (1 << (al.A_PROGRAM_FALLBACK - 1)):
            self._at(now + 1000, "program", prescription=self.rx)
        self._at(now + 2000, "resume_alarm")
        self._resume_pending = True
        self._at(now + int(0.1 * HOUR_MS), "acknowledge")

    # ---- report ----
    def run(self):
        t0 = time.perf_counter()
        res = super().run()
        secs = time.perf_counter() - t0
        by_code = {}
        for a in res["alarms"]:
            by_code[a["name"]] = by_code.get(a["name"], 0) + 1
        ledger = self.ledger
        res["soak"] = {
            "days": res["days"], "ml_per_day": self.ml_per_day, "steps": res["steps"], "wakeups": res["wakeups"],
            "seconds": round(secs, 1),
            "counts": self.counts, "faults": self.faults, "store_faults": self.store_faults,
            "clock_sizes_min": {str(k): v for k, v in sorted(self.clock_sizes.items())},
            "alarms_by_code": by_code,
            "invariant_checks": self.checks, "violations": self.violations,
            "false_alarms": self.false_alarms, "false_alarm_times_h": self.false_alarm_times,
            "max_lead_steps": round(self.max_lead_steps, 6),
            "max_error_steps": res["max_error_steps"],
            "max_24h_over_allowance_ug": None if ledger.max_over_pg is None else round(ledger.max_over_pg / 1e6, 3),
            "tolerance_ug": ledger.tolerance_pg / 1e6,
            "max_reservoir_estimate_ahead_ul": self.max_est_ahead_nl / 1000,
            "max_reservoir_estimate_behind_ul": self.max_est_behind_nl / 1000,
        }
        return res


def summary(res):
    s = res["soak"]
    c = s["counts"]
    sizes = s["clock_sizes_min"]
    lines = [
        "soak: %.0f days (%.1f years) in %.0f s: %d steps, %d wake-ups%s" % (
            s["days"], s["days"] / 365.25, s["seconds"], s["steps"], s["wakeups"],
            ", every program at %g mL/day" % s["ml_per_day"] if s["ml_per_day"] is not None else ""),
        "resets %d (%d watchdog), refills %d (%d new strengths; %d stacks of %d refills, %d queue merges), patient "
        "boluses %d asked (%d granted), clinician boluses %d, programs %d, primes %d" % (
            c["resets"], c["watchdog_resets"], c["refills"], c["new_strengths"], c["stacks"], c["stacked_refills"],
            c["queue_merges"], c["patient_boluses"], sum(1 for b in res["boluses"] if b["granted"]),
            c["clinician_boluses"], c["programs"], c["primes"]),
        "suspends %d (%d over 6.2 days), holds over 6.2 days %d, battery replacements %d, clock corrections %d "
        "(%d refused; a day %d, a year %d)" % (
            c["suspends"], c["long_suspends"], c["long_holds"], c["battery_replacements"], c["clock_sets"],
            c["clock_sets_refused"], sizes.get("1440", 0) + sizes.get("-1440", 0),
            sizes.get("525600", 0) + sizes.get("-525600", 0)),
        "faults injected %d: %s" % (c["faults"], ", ".join("%s %d" % kv for kv in sorted(s["faults"].items()))),
        "storage faults %d (%d on slots never written): %s; keys provisioned %d, commands waiting for them %d, "
        "patient boluses refused meanwhile %d" % (
            c["store_faults"], c["store_faults_unwritten"],
            ", ".join("%s %d" % kv for kv in sorted(s["store_faults"].items())) or "none", c["key_provisions"],
            c["commands_waiting_for_keys"], c["patient_boluses_refused_without_counters"]),
        "alarms by code: %s" % (", ".join("%s %d" % kv for kv in sorted(s["alarms_by_code"].items())) or "none"),
        "alarms without a cause: %s" % (
            ", ".join("%s %d" % kv for kv in sorted(s["false_alarms"].items())) or "none"),
        "invariant checks %d, violations %d; largest lead over the program %.3f steps (largest error either way "
        "%.3f); drug in a 24 h at most %s ug above its allowance (tolerance %.3f ug); reservoir estimate %.1f uL "
        "above / %.1f uL below the truth at most" % (
            s["invariant_checks"], len(s["violations"]), s["max_lead_steps"], s["max_error_steps"],
            s["max_24h_over_allowance_ug"], s["tolerance_ug"], s["max_reservoir_estimate_ahead_ul"],
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
