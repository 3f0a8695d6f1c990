"""Pump controller: the dosing core (pump.dosing) booted from what the stores hold, and every command applied whole
or not at all.

At boot the stores are taken back as far as they can be trusted (pump.stored): a record out of its range, a lost
store or an older program is an event and an alarm, never a boot that fails. Commands validate everything first,
persist second and change memory last, so a refusal or a storage failure leaves the running program untouched.
After a reset the plan restarts with a whole step owed: no catch-up. The safety limits that count time run on the
monotonic clock (pump.monoclock), never on the wall clock.
"""

import json

from pump import events as ev
from pump.alarms import (A_CLOCK_NOT_SET, A_DRUG_LIBRARY_FAULT, A_PROGRAM_FALLBACK,
                         A_STATE_LOST, A_STORE_CORRUPT, A_TASK_FAULT, A_WATCHDOG_RESET)
from pump.calendar import WALL_MAX_S, check_wall_s, clock_unknown
from pump.checkpoint import FLAG_CLOCK_SET, FLAG_CLOCK_UNKNOWN, FLAG_RESIDUAL_UNKNOWN, FLAG_SUSPENDED
from pump.config import RESET_WATCHDOG
from pump.dosing import Dosing
from pump.druglib import QTY_BOLUS
from pump.battery import ERI_DAYS
from pump.errors import E_BATTERY_ERI, E_CONC_MISMATCH, E_RANGE, E_RESERVOIR, E_STATE, E_UNKNOWN_DRUG, PumpError
from pump.forecast import check_program
from pump.limits import bolus_steps, check_fill_ul, check_prime_ul, gap_steps, usage_nl_per_day
from pump.monoclock import boot_times
from pump.prescription import check_bolus, parse_prescription
from pump.reconcile import Reconciler
from pump.refillcheck import check_aspirated_ul
from pump.reservoir import STATE_EMPTY, STATE_LOW
from pump.screening import END_PROGRAM, Screening
from pump.stored import STATE_FIRST, STATE_LOST, Stored
from pump.therapy import MODE_STOPPED
from pump.trialcmds import TrialCommands
from pump.units import as_int, min_to_ms, ug_to_ng, ul_to_nl


class Pump(TrialCommands, Reconciler, Dosing):
    """The pump's state machine; `hw` gives the roles of docs/roles.md, `config` the PumpConfig, `library` the
    DrugLibrary (None: the stored program runs on, unchecked, with an alarm; programming is refused)."""

    def __init__(self, hw, config, library, now=None):
        now = hw.clock.ticks_ms() if now is None else now
        super().__init__(hw, config, library, now)
        self.screening = Screening(hw.storage)
        self._trial_stepping = False  # the pump itself applies a titration step (not the clinician's program)
        self._restore(now)

    # ---- boot ----
    def _restore(self, now):
        """Take back what the stores hold, as far as it can be trusted (pump.stored): a record out of its range, a
        lost store or an older program than the one applied is an event and an alarm, never a boot that fails;
        holds found here are saved at once."""
        s = Stored(self._state_store, self._prog_store, self.library, self.nl_per_step)
        self.first_boot = s.state == STATE_FIRST
        c = s.counters
        if c is not None:
            self.c = c
        else:
            c = self.c
        rtc_ms = self.hw.rtc.now_ms()
        rtc_valid = rtc_ms <= WALL_MAX_S * 1000  # beyond the valid range: an invalid clock, set back from the record
        saved_wall_ms, saved_mono_ms = c.times()
        rtc_trusted = rtc_valid and not c.flags & FLAG_CLOCK_SET
        wall_ms, mono_ms = boot_times(rtc_ms, saved_wall_ms, saved_mono_ms, rtc_trusted)
        if not rtc_trusted:  # an invalid clock, or a clock setting that stopped midway: finished from the record
            self._set_rtc(wall_ms)
            self._dirty = True
        self.mono.set_ms(mono_ms if s.counters is not None else 0, now)
        self.plan.cal.set_wall_ms(wall_ms, now)  # never before the checkpoint: the RTC may have lost power
        for code, a, b in s.events:
            self._event(code, a, b)
        if not rtc_valid:
            self._event(ev.CLOCK_INVALID, min(rtc_ms // 1000, 0x7FFFFFFF))
        unset = s.counters is not None and bool(c.flags & FLAG_CLOCK_UNKNOWN)
        clock_lost = clock_unknown(rtc_ms, s.counters is None, unset, saved_wall_ms, rtc_trusted)
        self.clock_known = not clock_lost
        if clock_lost:
            self._event(ev.CLOCK_NOT_SET, clock_lost)
        self.safety.alarms.set_condition(A_CLOCK_NOT_SET, bool(clock_lost), now)
        log_rotten = self.log.rotten  # records of the event log that bit rot (not a power cut) left unreadable
        if log_rotten:
            self._event(ev.STORE_CORRUPT, log_rotten, ev.STORE_LOG)
        self.reservoir.fill_nl = c.fill_nl
        self.reservoir.restore(c.remaining_nl)
        # a reservoir whose record was lost has no expected residual to reconcile a refill with (pump.refillcheck)
        self.residual_known = not (c.flags & FLAG_RESIDUAL_UNKNOWN or s.state == STATE_LOST or s.refill_lost)
        self.policy.grants_mono_s = list(c.grants_mono_s)
        self.suspended = bool(c.flags & FLAG_SUSPENDED)
        plan = self.plan
        try:
            plan.phases.restore(c.phase_shift_ms, c.phase_until_s)
        except PumpError:
            pass  # a corrupt record: the schedule follows the wall clock at once
        plan.catheter.restore(c.catheter)
        self.therapy = s.therapy
        self.unchecked = s.unchecked
        if s.unchecked:
            self._event(ev.PROGRAM_UNCHECKED, s.unchecked)
        self._event(ev.BOOT, self.hw.reset_cause)
        safety = self.safety
        if s.counters is not None:  # holds in force stay in force; fault alarms stay latched
            safety.restore(c.latched, c.occ_base_kpa_x10, c.occ_jump_x256, now)
            safety.restore_windows(c.windows, now)  # a breach that was building is still caught
        if self.hw.reset_cause == RESET_WATCHDOG:  # latched until acknowledged: someone must look at why
            safety.latch(A_WATCHDOG_RESET, now)
        if s.rotten or log_rotten:
            safety.latch(A_STORE_CORRUPT, now)
        if s.state == STATE_LOST or s.refill_lost:  # reservoir (holds, suspend) unknown: held until confirmed
            safety.hold(A_STATE_LOST, now)
        if s.fallback:  # not the program last applied (or none readable): held until confirmed or reprogrammed
            safety.hold(A_PROGRAM_FALLBACK, now)
        self._library_alarm(now)
        self._apply_cap(now)
        plan.set_therapy(now, self.therapy, c.conc_ug_per_ml, self._may_run())
        if s.refill_lost and self.therapy is not None:  # a refill with a new strength whose checkpoint was lost:
            # the drugs as the refill left them (refill_lost comes with a stored program: the guard is for the types)
            plan.refill(now, self.therapy.conc_ug_per_ml, self.cfg.catheter_volume_ul * 1000)
        self._program_limits(now)  # a program saved after the windows' checkpoint phases in over a window
        if s.counters is not None:
            self._account_gap(wall_ms - saved_wall_ms)
            self._apply_cap(now)
        try:
            self._save_latched(now)  # holds and faults found at this boot survive the next reset
            if clock_lost and not (s.counters is not None and c.flags & FLAG_CLOCK_UNKNOWN):
                self.checkpoint(now)  # a clock found unknown stays so, whatever the RTC reads at the next boot
        except PumpError:  # a failing flash: the alarms hold in memory, and the next checkpoint tries again
            self._dirty = True
        try:  # the trial: a step that fell due while the pump was off is applied at the first tick
            refused = self.screening.load(self.library, self.nl_per_step)
        except PumpError:  # a failing flash: no trial known, so no step is applied; the program runs on
            refused = E_STATE
        if self.screening.rotten:  # a trial slot bit rot spoilt: the other slot (or none) is what runs
            self._event(ev.STORE_CORRUPT, self.screening.rotten, ev.STORE_TRIAL)
            self.safety.latch(A_STORE_CORRUPT, now)
        if refused:
            self._event(ev.PROGRAM_REJECTED, refused)
            self._event(ev.TRIAL_END, self.screening.step + 1, self.screening.ended)
        self._trial_due = self.screening.titrating

    def _set_rtc(self, wall_ms):
        try:
            self.hw.rtc.set_ms(wall_ms)
        except Exception:  # noqa: BLE001 - the calendar runs from ticks all the same
            pass

    def _library_alarm(self, now):
        """DRUG_LIBRARY_FAULT while the pump has no usable drug library or runs a program it did not check."""
        self.safety.alarms.set_condition(A_DRUG_LIBRARY_FAULT, self.library is None or bool(self.unchecked), now)

    def _account_gap(self, gap_ms):
        """Steps since the last checkpoint were lost with the reset: book the whole steps the current program moves
        in that gap, so repeated resets cannot leave the reservoir estimate far above the real one. A gap the clock
        cannot vouch for (negative, or longer than a checkpoint interval) books nothing. Either way the estimate is
        off by at most one checkpoint interval of delivery: high when nothing is booked, low when a cut fell between
        saving a faster program and its checkpoint (the safe side: a low-reservoir alarm comes early)."""
        if not 0 <= gap_ms <= self._ckpt_ms:
            return
        plan = self.plan
        steps = gap_steps(plan.rate_num, plan.rate_den, gap_ms, self.nl_per_step)  # never more than were moved,
        nl = steps * self.nl_per_step  # so the estimate never falls below the truth
        if nl > 0:
            self.reservoir.restore(self.reservoir.remaining_nl - nl)
            self.c.delivered_today_nl += nl
            self._dirty = True

    # ---- commands: validate, persist, apply ----
    def _now(self, now):
        """Ticks for a command, after delivering whatever was already due: a command never reorders time. The command
        may move the next deadline earlier (a program, a resume): `retimed` tells the app's dosing task to ask again."""
        now = self.hw.clock.ticks_ms() if now is None else now
        self.tick(now)
        self.retimed = True
        return now

    def program(self, doc, confirm_soft=False, now=None, check_library=True, confirm_battery=False):
        """Replace the therapy with a validated prescription; a refusal is logged and changes nothing. A program that
        would bring the battery's elective replacement within 90 days (or allows no 90-day warning at its rate) is
        refused with E_BATTERY_ERI unless `confirm_battery` (pump.forecast.check_program); a stop never is."""
        now = self._now(now)
        eri_days = None
        try:
            therapy = parse_prescription(doc, self.library, self.nl_per_step, confirm_soft, check_library)
            conc = self.plan.conc_ug_per_ml
            if conc and therapy.conc_ug_per_ml != conc:
                raise PumpError(E_CONC_MISMATCH, "drug.concentration_ug_per_ml: reservoir holds %d ug/mL" % conc)
            if therapy.mode != MODE_STOPPED:
                steps = -(-usage_nl_per_day(therapy) // self.nl_per_step)
                safety = self.safety
                eri_days = check_program(self.forecast, safety.battery_mv, safety.battery.state, steps,
                                         confirm_battery)
        except PumpError as e:
            self._event(ev.PROGRAM_REJECTED, e.code)
            raise
        if self.screening.titrating and not self._trial_stepping:  # the clinician's program ends the titration:
            self.screening.end(END_PROGRAM)  # saved first: no later step may undo the clinician's choice
            self._event(ev.TRIAL_END, self.screening.step + 1, END_PROGRAM)
        self._persist_program(therapy)
        self.therapy = therapy
        self.unchecked = 0  # checked now (or a stop, which needs no library)
        self.safety.release_hold(A_PROGRAM_FALLBACK, now)  # reprogrammed: the clinician chose the program
        self._library_alarm(now)
        cancelled = self.plan.set_therapy(now, therapy, therapy.conc_ug_per_ml, self._may_run())
        self._cancelled(cancelled, now)
        self._program_limits(now)
        self._event(ev.PROGRAM, therapy.mode)
        if eri_days is not None and eri_days < ERI_DAYS:  # accepted on the clinician's confirmation: on the record
            self._event(ev.BATTERY_CONFIRMED, eri_days, E_BATTERY_ERI)
        self.checkpoint(now)
        return therapy

    def _persist_program(self, therapy):
        self._prog_store.save(json.dumps(therapy.to_doc()).encode())

    def refill(self, fill_ul, conc_ug_per_ml=None, now=None, aspirated_ul=None):
        """New fill volume; a new concentration re-validates the program, and the catheter's drug goes first at its
        own strength (it joins the catheter queue). `aspirated_ul`, the volume drawn out of the reservoir before
        filling (None: not measured), is reconciled with the expected residual (pump.refillcheck): a discrepancy is
        logged and raises a medium alarm, and the refill goes on (the drug is in the reservoir by now)."""
        now = self._now(now)
        fill_ul = check_fill_ul(fill_ul, self.cfg.reservoir_ul)
        aspirated_ul = check_aspirated_ul(aspirated_ul, self.cfg.reservoir_ul)
        if conc_ug_per_ml is None:
            conc = self.plan.conc_ug_per_ml
        else:
            conc = as_int(conc_ug_per_ml, "concentration_ug_per_ml")
        therapy = self.therapy
        if therapy is not None and conc != therapy.conc_ug_per_ml:
            doc = therapy.to_doc()
            doc["drug"]["concentration_ug_per_ml"] = conc
            therapy = parse_prescription(doc, self.library, self.nl_per_step)
        elif therapy is None and conc <= 0:
            raise PumpError(E_RANGE, "concentration_ug_per_ml: needed for a first fill")
        expected_ul = self.expected_residual_ul()
        if therapy is not self.therapy:
            self._persist_program(therapy)
            self.therapy = therapy
            # the boluses in progress end with the program they were granted under: logged, allowance handed back
            self._cancelled(self.plan.set_therapy(now, therapy, self.plan.conc_ug_per_ml, self._may_run()), now)
        self.reservoir.fill(ul_to_nl(fill_ul))
        self.residual_known = True
        self.plan.refill(now, conc, self.cfg.catheter_volume_ul * 1000)
        self._program_limits(now)
        self.safety.refilled(now, self.reservoir.state == STATE_LOW, self.reservoir.state == STATE_EMPTY)
        self._apply_cap(now)
        self._reconcile(now, expected_ul, aspirated_ul)
        self._event(ev.REFILL, fill_ul, conc)
        self.checkpoint(now)

    def prime(self, volume_ul=None, now=None):
        """Fill the catheter at the priming rate; only while therapy is not running."""
        now = self._now(now)
        if self.plan.running:
            raise PumpError(E_STATE, "prime: suspend or stop therapy first")
        volume_ul = self.cfg.catheter_volume_ul if volume_ul is None else check_prime_ul(volume_ul)
        nl = ul_to_nl(volume_ul)
        if self.reservoir.remaining_nl - nl < self.reservoir.empty_nl:
            raise PumpError(E_RESERVOIR, "volume_ul")
        self.plan.start_prime(now, nl)
        if self._prime_steps:
            self.safety.release(now, self._prime_steps)
        self._prime_steps = self.safety.grant_steps(nl // self.nl_per_step + 2)
        self._event(ev.PRIME, nl)
        self.checkpoint(now)

    def clinician_bolus(self, dose_ug, duration_min, confirm_soft=False, now=None):
        self.clinician_bolus_ng(ug_to_ng(dose_ug, "bolus.dose_ug"), duration_min, confirm_soft, now)

    def clinician_bolus_ng(self, dose_ng, duration_min, confirm_soft=False, now=None):
        """A clinician bolus of a whole number of ng (BLE commands carry integer ng, never a float)."""
        now = self._now(now)
        duration_ms = min_to_ms(duration_min, "bolus.duration_min")
        therapy = self.therapy
        if therapy is None or not self.plan.running:
            raise PumpError(E_STATE, "bolus: therapy not running")
        if self.library is None:  # the stored program may run without a library; a new dose may not
            raise PumpError(E_UNKNOWN_DRUG, "bolus: no drug library loaded")
        check_bolus(dose_ng, duration_ms, therapy.conc_ug_per_ml, self.nl_per_step, "bolus")
        self.library.check(therapy.drug, QTY_BOLUS, dose_ng, "bolus.dose_ug", confirm_soft)
        self._start_bolus(now, ev.BOLUS_CLINICIAN, dose_ng, duration_ms)

    def patient_bolus(self, now=None):
        """Start the programmed patient bolus, or refuse with the reason (logged) as a PumpError."""
        now = self._now(now)
        pb = self.therapy.patient_bolus if self.therapy is not None else None
        try:
            if not self.plan.running:
                raise PumpError(E_STATE, "bolus: therapy not running")
            code = self.policy.check(self.mono.s, pb)  # monotonic: no clock setting opens or closes the limits
            if code or pb is None:
                raise PumpError(code or E_STATE, "patient_bolus")
            self._start_bolus(now, ev.BOLUS_PATIENT, pb.dose_ng, pb.duration_ms)
        except PumpError as e:
            self._event(ev.BOLUS_REFUSED, e.code, ev.BOLUS_PATIENT)
            raise
        self.policy.grant(self.mono.s)
        self.checkpoint(now)

    def _start_bolus(self, now, kind, dose_ng, duration_ms):
        if self.reservoir.state == STATE_EMPTY:
            raise PumpError(E_RESERVOIR, "bolus: reservoir empty")
        plan = self.plan
        steps = bolus_steps(self.therapy, plan.boluses, plan.catheter, plan.conc_ug_per_ml, dose_ng, duration_ms,
                            self.nl_per_step)
        if not plan.start_bolus(now, kind, dose_ng, duration_ms, steps):
            raise PumpError(E_STATE, "bolus: too many boluses in progress")
        self.safety.grant_steps(steps)
        self._event(ev.BOLUS_GRANTED, dose_ng, kind)

    def suspend(self, now=None):
        now = self._now(now)
        if self.suspended:
            return
        self.suspended = True
        self._cancelled(self.plan.suspend(now), now)
        self._event(ev.SUSPEND, 0)
        self.checkpoint(now)

    def resume(self, now=None):
        now = self._now(now)
        if not self.suspended:
            return
        self.suspended = False
        if self._may_run():
            self.plan.resume(now)
        self._event(ev.RESUME)
        self.checkpoint(now)

    def resume_after_alarm(self, now=None):
        """Release the safety holds whose conditions are gone; dosing restarts when none is left (and not suspended).
        Returns the bitmap of holds still in force (0: released)."""
        now = self._now(now)
        holding = self.safety.release_holds(now)
        if not holding and not self.suspended and not self.plan.running:
            self.plan.resume(now)
            self._event(ev.RESUME)
            self.checkpoint(now)
        self._save_latched(now)  # released holds are saved even while the user's suspend goes on
        return holding

    def acknowledge(self, code=0, now=None):
        """Acknowledge one alarm (or all with 0); returns how many were acknowledged."""
        now = self._now(now)
        n = self.safety.alarms.acknowledge(now, code)
        self._save_latched(now)
        return n

    def silence(self, ms, now=None):
        now = self._now(now)
        return self.safety.alarms.silence(now, ms)

    def stop(self, now=None):
        """Program a stopped therapy for the same drug (a new program is needed to run again)."""
        if self.therapy is None:
            return
        doc = self.therapy.to_doc()
        doc["therapy"] = {"mode": "stopped"}
        doc.pop("patient_bolus", None)
        doc.pop("periodic_boluses", None)
        self.program(doc, True, now, False)  # a stop delivers nothing: no library needed (it may be gone)
        self._event(ev.STOP)

    def set_clock(self, wall_s, now=None):
        """Set the wall clock. The schedule phases in over a day (pump.phases: never more than the program allows in
        24 h); the safety limits that count time do not move. E_STATE when too many corrections are phasing in."""
        now = self._now(now)
        wall_s = check_wall_s(as_int(wall_s, "wall_s"))  # a time beyond the valid range would fit no stored record
        old = self.wall_s(now)
        if wall_s != old:  # (the second the clock already reads changes nothing: no transition for its ms)
            self.plan.correct_clock(now, wall_s * 1000)
            # the new time is saved, marked, before the RTC is written: a reset between the two must not take the
            # RTC's old time for time gone by (pump.monoclock.boot_times); if the store fails, the mark goes on with
            # every checkpoint until a reset settles it
            self._clock_setting = True
            self.checkpoint(now)
            self.hw.rtc.set_ms(wall_s * 1000)
            self._clock_setting = False
        self._event(ev.CLOCK_SET, max(-0x7FFFFFFF, min(0x7FFFFFFF, wall_s - old)), 1 + len(self.plan.phases.shift_ms))
        if not self.clock_known:  # the clinician set it: the pump's clock is known again, the alarm ends with it
            self.clock_known = True
            self.safety.clock_set(now)
        self.checkpoint(now)

    def audit(self, counter, command, lo, hi):
        """Log a signed command that changes therapy (pump.commands.AUDITED): counter, opcode, role and result, and
        its content hash; the two records follow each other."""
        self._event(ev.COMMAND, counter - 0x100000000 if counter > 0x7FFFFFFF else counter, command)
        self._event(ev.CONTENT, lo, hi)

    def halt(self):
        """Stop for good until a reset (a task fault): the driver is disabled and tick() steps no more."""
        self.hw.stepper.disable()
        self.halted = True

    def fault(self, task_id, code):
        """A task failed: motor off first, then the event and a task-fault alarm that outlives the coming reset."""
        self.halt()
        now = self.hw.clock.ticks_ms()
        self._event(ev.TASK_FAULT, task_id, code)
        self.safety.latch(A_TASK_FAULT, now)
        self.checkpoint(now)
