"""The soak's invariants (verify/soak.py), judged from the simulated plant's truth at every wake-up of the firmware and
after every event; violations are listed with their time, alarms without a cause are counted.

- over-delivery: the delivered steps never lead the exact program plus granted boluses by more than one step;
- drug mass: the drug that left the catheter tip in any 24 h is at most what the programs in force allow in 24 h
  (verify/soakmass.py defines it exactly, with a tolerance of one step of the strongest drug);
- patient boluses: a grant never comes within the program's lockout of the previous one (pump time), nor beyond its
  daily maximum in any 24 h (one second of tolerance: the pump counts them in whole monotonic seconds);
- no step while suspended (outside priming), while a safety hold is in force (occlusion, stall, sensor fault,
  over-delivery, end of service, lost state, program fallback), or with the cell at end of service past its
  detection time; steps into an occluded line or on a jammed mechanism stay within the detection bounds
  (OCCLUSION_MAX_STEPS, STALL_MAX_STEPS) before the pump holds, counted across resets and across a resume into a
  line still blocked;
- the reservoir never goes below zero, no step is taken from a dry reservoir, and the pump's estimate never runs
  ahead of the truth by more than the accounting a reset may lose;
- every alarm is active when its condition has held for its detection time: reservoir low/empty (the pump's estimate
  and the truth), occlusion, motor stall, pressure and battery sensor faults, battery ERI/EOS, watchdog reset.

An alarm raised without its cause (an injected fault, a corrupted store read back at the boot that raised it, a
watchdog reset) is a false alarm: reported, since one that holds dosing stops therapy until a clinician comes.
"""

from board.sim.hydraulics import HYD_CLEARED, HYD_OCCLUDED, HYD_OPEN
from pump import alarms as al
from pump import battery
from pump.reservoir import STATE_EMPTY, STATE_LOW
from tools.sim.sim import DAY_MS, Simulation
from verify.soakmass import DoseLedger

HOUR_MS = 3600000
NL_PER_STEP = 200
OCCLUSION_MAX_STEPS = 50  # 10 uL at 200 nL per step: the undelivered-volume target of docs/hydraulics.md
STALL_MAX_STEPS = 12  # docs/safety.md: a complete jam is seen within 12 commanded steps
PRESSURE_FAULT_MAX_READS = 80  # two reads per burst (before, after); 32 identical samples make "stuck"; margin
BATTERY_FAULT_MAX_SAMPLES = 70  # hourly samples: 64 identical readings make "stuck"; plus margin
BATTERY_MAX_SAMPLES = 5  # hourly samples: 3 debounced below the threshold, one at boot, one of margin
BATTERY_NOISE_MV = 7  # SimBattery's reading noise bound (three draws of +-2 mV) plus 1
MAX_BOLUS_UG = 500  # the soak's largest clinician bolus (a reset may lose a whole one from the accounting)
GRANT_SLACK_MS = 1000  # the pump's bolus limits count whole monotonic seconds
# alarms a corrupted store explains when the boot reading it raises them: its own, and any hold or fault alarm an
# older record still held (the other slot's)
_STORE_ALARMS = {"state": (al.A_STORE_CORRUPT, al.A_STATE_LOST), "prog": (al.A_STORE_CORRUPT, al.A_PROGRAM_FALLBACK),
                 "log": (al.A_STORE_CORRUPT,), "cmdauth": (al.A_COMMAND_COUNTERS_LOST,)}


def _bit(code):
    return 1 << (code - 1)


class SoakChecks(Simulation):
    """The simulator with the soak's invariants; `_react()` (the soak's clinician) runs after every check."""

    def __init__(self, scenario, tolerance_pg):
        self.checks = 0
        self.violations = []
        self.false_alarms = {}
        self.false_alarm_times = []
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
        self.rot = {}  # blob name: (store, the corrupted blob) while the flash still holds it (not rewritten since)
        self.counters_doubt = False  # the command counters were corrupted and no new keys came since
        self.grants_t = []  # pump times of the patient boluses granted in the last day
        self._pre = None
        super().__init__(scenario, samples=200)
        self.ledger = DoseLedger(0, scenario.prescription, tolerance_pg)

    def _react(self):
        """The clinician (verify/soak.py)."""

    # ---- what happened ----
    def _apply(self, event):
        t, kind, e = event
        before = self.pump.safety.alarms.active_bitmap
        blobs = self.storage.blobs
        self.rot = {name: rot for name, rot in self.rot.items() if blobs.get(name) is rot[1]}  # (rewritten since)
        rotten = {store for store, _blob in self.rot.values()}  # what the boot will read
        super()._apply(event)
        ok = self.commands[-1]["ok"] if self.commands else True
        if kind == "reset":
            self._booted(t, e.get("cause") == "watchdog", before, rotten)
            before = self.pump.safety.alarms.active_bitmap
        raised = self.pump.safety.alarms.active_bitmap & ~before
        if raised:  # (a command delivers what is due first: its wake-up's alarms)
            hyd = self.hydraulics.state
            self._unexplained(t, raised, self.plant.jammed, hyd != HYD_OPEN and hyd != HYD_CLEARED)
        if kind == "reset" or not ok:
            pass
        elif kind == "refill":
            self.est_slack_nl = NL_PER_STEP
        elif kind == "program":
            self.ledger.program(t, e["prescription"])
        elif kind == "patient_bolus":
            self._granted(t)
        elif kind == "clinician_bolus":
            self.ledger.bolus(t, e["dose_ug"], e["duration_min"] * 60000, False)
        elif kind == "prime":
            volume_nl = e.get("volume_ul", self.cfg.catheter_volume_ul) * 1000
            steps = -(-volume_nl // self.cfg.nl_per_step)
            self.ledger.prime(t, self.plant.rigid.peek_pg(steps * self.plant.nl_per_step))
        self._mass(t)

    def _corrupt(self, store, slot):
        names = super()._corrupt(store, slot)
        for name in names:
            self.rot[name] = (store, self.storage.blobs[name])
        self.counters_doubt |= store == "cmdauth"
        return names

    def _granted(self, t):
        """A patient bolus granted at pump time t: within the program's lockout and daily maximum?"""
        _prog_t, prog = self.ledger.programs[-1]
        dose_ng, duration_ms, lockout_ms, max_per_day = prog.patient
        duration_ms, lockout_ms = int(duration_ms), int(lockout_ms)
        grants = self.grants_t = [g for g in self.grants_t if t - g < DAY_MS - GRANT_SLACK_MS]
        if grants and t - grants[-1] < lockout_ms - GRANT_SLACK_MS:
            self._violation(t, "patient bolus granted %.1f min after the last (lockout %d min)" % (
                (t - grants[-1]) / 60000, lockout_ms // 60000))
        if len(grants) >= max_per_day:
            self._violation(t, "patient bolus %d within 24 h (at most %d)" % (len(grants) + 1, max_per_day))
        grants.append(t)
        self.ledger.bolus(t, dose_ng / 1000, duration_ms, True)

    def _booted(self, t, watchdog, before, rotten):
        self.boot_t = t
        self.watchdog_boot = watchdog
        # accounting a reset may lose: steps since the last checkpoint that the gap booking cannot see (a bolus in
        # progress, a fraction of a step), bounded by a checkpoint interval at the highest rate plus a whole bolus
        plan = self.pump.plan
        rate_nl_per_day = plan.rate_num // max(plan.rate_den, 1)
        bolus_nl = MAX_BOLUS_UG * 1000 * 1000 // plan.conc_ug_per_ml if plan.conc_ug_per_ml else 0
        self.est_slack_nl += (rate_nl_per_day * self.cfg.checkpoint_interval_s // 86400 + bolus_nl + NL_PER_STEP)
        raised = self.pump.safety.alarms.active_bitmap & ~before
        explained = _bit(al.A_WATCHDOG_RESET) if watchdog else 0
        for store in rotten:
            for code in _STORE_ALARMS[store]:
                explained |= _bit(code)
        if "state" in rotten:  # the other slot's record may hold alarms released since
            explained |= self.pump.safety.latched()
        if self.counters_doubt:  # lost until new keys: the alarm comes back at every boot
            explained |= _bit(al.A_COMMAND_COUNTERS_LOST)
        self._unexplained(t, raised & ~explained, (), ())

    # ---- invariants ----
    def _violation(self, t, what):
        if len(self.violations) < 200:
            self.violations.append({"t_h": round(t / HOUR_MS, 4), "what": what})

    def _mass(self, t):
        excess = self.ledger.check(t, self.plant.pushed_pg)
        if excess:
            self._violation(t, "%.3f ug left the catheter tip in the 24 h to here over what the programs allow" % (
                excess / 1e6))

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
        a, b, y, _until = self._line
        lead = (after * y - (a + t * b)) / y
        if lead > self.max_lead_steps:
            self.max_lead_steps = lead
        if lead > 1:
            self._violation(t, "delivered %.3f steps ahead of the program" % lead)
        if self.ledger.primes and self.ledger.primes[-1][1] is None and not p.plan.prime_nl_left:
            self.ledger.primed(t)
        self._mass(t)
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
        """Alarms raised with no cause (false alarms): counted and reported, not invariant violations. At a wake-up:
        the fault alarms need their injected fault; the alarms only a boot raises need one there."""
        hyd = self.hydraulics.state
        causes = (
            (al.A_PRESSURE_SENSOR_FAULT, self.hw.pressure.fault is not None),
            (al.A_MOTOR_STALL, jammed),
            (al.A_OCCLUSION, occluded or (hyd != HYD_OPEN and hyd != HYD_CLEARED)),
            (al.A_BATTERY_SENSOR_FAULT, self.hw.battery.fault is not None),
            (al.A_OVER_DELIVERY, False),
            (al.A_WATCHDOG_RESET, False), (al.A_TASK_FAULT, False), (al.A_STORE_CORRUPT, False),
            (al.A_PROGRAM_FALLBACK, False), (al.A_STATE_LOST, False), (al.A_COMMAND_COUNTERS_LOST, False),
            (al.A_DRUG_LIBRARY_FAULT, False), (al.A_OCCLUSION_SENSING_UNAVAILABLE, False),
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
