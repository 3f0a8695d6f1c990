"""Pump controller: owns therapy, dose plan, reservoir, counters and logs; applies each command whole or not at all.

`tick(now)` is the only per-step entry: it delivers the steps due, accounts for them and returns the next deadline.
Commands validate everything first, persist second and change memory last, so a refusal or a storage failure
leaves the running program untouched. After a reset the plan restarts with a whole step owed: no catch-up. The
safety limits that count time run on the monotonic clock (pump.monoclock), never on the wall clock.
"""

import json

from pump import events as ev
from pump.bolus import PatientBolusPolicy
from pump.calendar import WALL_MAX_S, check_wall_s
from pump.checkpoint import FLAG_CLOCK_SET, FLAG_SUSPENDED, OLDER, VERSION, Counters, pack
from pump.compat import ticks_add, ticks_diff
from pump.doseplan import DosePlan
from pump.druglib import QTY_BOLUS
from pump.errors import E_CONC_MISMATCH, E_RANGE, E_RESERVOIR, E_STATE, E_UNKNOWN_DRUG, PumpError
from pump.eventlog import EventLog
from pump.monoclock import MonoClock, boot_times
from pump.reservoir import STATE_EMPTY, STATE_LOW, Reservoir
from pump.alarms import (A_DRUG_LIBRARY_FAULT, A_PROGRAM_FALLBACK, A_STATE_LOST, A_STORE_CORRUPT, A_TASK_FAULT,
                         A_WATCHDOG_RESET)
from pump.config import RESET_WATCHDOG
from pump.safety import Safety
from pump.store import Store
from pump.stored import STATE_FIRST, STATE_LOST, Stored
from pump.therapy import MODE_STOPPED, check_bolus, parse_prescription
from pump.units import as_int, min_to_ms, ug_to_ng, ul_to_nl

_PROGRAM_MAX_BYTES = 8192
_HALTED_WAKE_MS = 3600000


def _peak_basal_ng_per_day(therapy):
    """The program's highest basal rate anywhere in its week."""
    peak = 0
    for sched in therapy.weekly or (therapy.daily,):
        for _start, ng_per_day in sched:
            peak = max(peak, ng_per_day)
    return peak


class Pump:
    """The pump's state machine; `hw` gives the roles of docs/roles.md, `library` the DrugLibrary."""

    def __init__(self, hw, config, library, now=None):
        self.hw = hw
        self.cfg = config
        self.library = library
        self.nl_per_step = config.nl_per_step
        self._step = hw.stepper.step_forward
        self._max_steps = config.max_steps_per_wake
        self._ckpt_ms = config.checkpoint_interval_s * 1000
        self.log = EventLog(hw.storage).open()
        self._state_store = Store(hw.storage, "state", VERSION, older=OLDER)
        self._prog_store = Store(hw.storage, "prog", max_payload=_PROGRAM_MAX_BYTES)
        self.reservoir = Reservoir(config.low_reservoir_ul * 1000, config.empty_reservoir_ul * 1000)
        self.policy = PatientBolusPolicy()
        self.c = Counters()
        self.therapy = None
        self.suspended = False
        self.steps = 0  # steps delivered since boot, modulo 2**30 like ticks (a small int on the boards)
        now = hw.clock.ticks_ms() if now is None else now
        self.mono = MonoClock(now)  # restored from the checkpoint below
        self.plan = DosePlan(config.nl_per_step, config.prime_rate_nl_per_day, 0, now, self.mono)
        self.safety = Safety(hw, config.nl_per_step, self._event, now, self.mono)
        self._clock_setting = False  # a clock setting is between saving the new time and writing the RTC
        self._sample_due = now
        self._dirty = False
        self._ckpt_due = now  # the first change after a boot is saved at once: resets cannot starve the checkpoint
        self.halted = False  # a task fault stopped the pump: no step until the board resets
        self.unchecked = 0  # error code of the library check the running program failed at boot (0: checked)
        self.first_boot = False  # no record in the state and program stores at boot: a new pump
        self._prime_steps = 0  # over-delivery allowance of the priming in progress
        self._limits_conc = 0  # the tip concentration the over-delivery bounds were computed for
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
        log_rotten = self.log.rotten  # records of the event log that bit rot (not a power cut) left unreadable
        if log_rotten:
            self._event(ev.STORE_CORRUPT, log_rotten, ev.STORE_LOG)
        self.reservoir.fill_nl = c.fill_nl
        self.reservoir.restore(c.remaining_nl)
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
        except PumpError:  # a failing flash: the alarms hold in memory, and the next checkpoint tries again
            self._dirty = True

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
        steps = plan.rate_num * gap_ms // (plan.rate_den * 86400000 * self.nl_per_step)  # whole steps: never more
        nl = steps * self.nl_per_step  # than were really moved, so the estimate never falls below the truth
        if nl > 0:
            self.reservoir.restore(self.reservoir.remaining_nl - nl)
            self.c.delivered_today_nl += nl
            self._dirty = True

    # ---- time (hot path) ----
    def tick(self, now):
        """Deliver what is due at ticks `now`; return the ticks of the next deadline."""
        self.mono.advance(now)  # at least once per ticks horizon: every path below wakes again within a day
        if self.halted:
            return ticks_add(now, _HALTED_WAKE_MS)
        plan = self.plan
        while True:
            self._deliver(now)
            if plan.cal.day != self.c.day:
                self._new_day()  # take_due stopped at midnight: close the old day, then go on with the new one
            elif self._limits_conc != self._tip_conc():
                # take_due stopped where an old drug ran out at the tip: the next drug's bounds count from here
                self._program_limits(now)
            else:
                break
        if plan.finished:
            self._bolus_finished(now)
        if self._prime_steps and not plan.prime_nl_left:
            self.safety.release(now, self._prime_steps)
            self._prime_steps = 0
        if ticks_diff(now, self._sample_due) >= 0:
            self._sample(now)
        if self._dirty and ticks_diff(now, self._ckpt_due) >= 0:
            self.checkpoint(now)
        deadline = plan.next_deadline()
        return deadline if ticks_diff(self._sample_due, deadline) > 0 else self._sample_due

    def _deliver(self, now):
        plan = self.plan
        catheter = plan.catheter
        old_drug = catheter.n
        moving = old_drug or catheter.behind  # the queue follows the steps (pump.catheter)
        if moving:
            catheter.keep()
        n = plan.take_due(now, self._max_steps)
        if n:
            safety = self.safety
            if not safety.may_step(now):
                # the steps just taken are not delivered: never more than programmed; nor do they push the
                # catheter's old drugs out (the hold retimes the plan, priming is cancelled with it)
                if moving:
                    catheter.undo()
                self._tip_back(now, safety.backed_off)
                self._hold(now)
                return
            self._step(n)
            self._account(now, n)
            safety.stepped(now, n)
            if safety.unmoved:
                self._tip_back(now, safety.unmoved)
            if safety.holding:
                self._hold(now)
            if (old_drug or catheter.n) and self._dirty:
                # the queue's progress decides which drug is at the catheter tip: saved with every burst, or a reset
                # would push the next drug at the old one's volume rate for the steps since the last checkpoint
                self.checkpoint(now)

    def _tip_back(self, now, steps):
        """`steps` moved no drug out of the catheter after all (drawn back by the occlusion back-off, or not made by
        the mechanism): the queue's tip goes back with them, or it would end an old drug early and pace the rest of
        it as the next one."""
        if steps:
            if self.plan.catheter.back(steps * self.nl_per_step):
                self.plan.retime(now)  # the drug at the tip changed (tick() bounds over-delivery for it)
            self._dirty = True

    def _sample(self, now):
        state = self.reservoir.state
        self._sample_due = self.safety.sample(now, state == STATE_LOW, state == STATE_EMPTY)
        if self.safety.holding:
            self._hold(now)

    def _hold(self, now):
        """A safety hold: dosing stops (boluses cancelled) until the resume command finds the conditions gone; the
        hold is saved at once, so a reset cannot release it."""
        if self.plan.running or self.plan.prime_nl_left:
            self._cancelled(self.plan.suspend(now), now)
            self._event(ev.SUSPEND, self.safety.alarms.highest())
        self._save_latched(now)

    def _save_latched(self, now):
        if self.safety.latched() != self.c.latched:
            self.checkpoint(now)

    def _account(self, now, n):
        nl = n * self.nl_per_step
        c = self.c
        self.steps = ticks_add(self.steps, n)
        c.delivered_today_nl += nl
        rem = c.total_nl_rem + nl
        if rem >= 1000:
            whole = rem // 1000
            c.total_ul += whole
            rem -= whole * 1000
        c.total_nl_rem = rem
        self._dirty = True
        if self.reservoir.delivered(nl):
            self._reservoir_changed(now)

    # ---- cold-path reactions ----
    def _reservoir_changed(self, now):
        state = self.reservoir.state
        if state == STATE_LOW:
            self._event(ev.LOW_RESERVOIR, self.reservoir.remaining_ul)
        elif state == STATE_EMPTY:
            self._event(ev.EMPTY_RESERVOIR, self.reservoir.remaining_ul)
        self._sample_due = now  # the reservoir alarms follow at once
        self._apply_cap(now)
        self.checkpoint(now)

    def _apply_cap(self, now):
        empty = self.reservoir.state == STATE_EMPTY
        self._cancelled(self.plan.set_cap(now, self.cfg.min_rate_at_empty_nl_per_day if empty else -1), now)

    def _bolus_finished(self, now):
        for b in self.plan.finished:
            if b.kind != ev.BOLUS_PERIODIC:
                self.safety.release(now, b.steps)
            self._event(ev.BOLUS_DONE, b.delivered_ng, b.kind)
        self.plan.finished = []

    def _new_day(self):
        self.c.day = self.plan.cal.day
        self.c.delivered_today_nl = 0
        self._dirty = True

    def checkpoint(self, now):
        """Persist the counters (bounded cadence; also right after every command)."""
        c = self.c
        c.set_times(self.plan.cal.wall_ms_at(now), self.mono.ms_at(now))
        c.flags = (FLAG_SUSPENDED if self.suspended else 0) | (FLAG_CLOCK_SET if self._clock_setting else 0)
        c.fill_nl = self.reservoir.fill_nl
        c.remaining_nl = self.reservoir.remaining_nl
        c.conc_ug_per_ml = self.plan.conc_ug_per_ml
        c.catheter = self.plan.catheter.segments()
        c.grants_mono_s = self.policy.grants_mono_s
        c.phase_shift_ms = self.plan.phases.shift_ms
        c.phase_until_s = self.plan.phases.until_s
        safety = self.safety
        c.windows = safety.windows_saved()
        c.latched = safety.latched()
        c.occ_base_kpa_x10, c.occ_jump_x256 = safety.occlusion.saved()
        c.prog_seq = self._prog_store.seq  # the program applied: a program store found older at boot fell back
        self._state_store.save(pack(c))
        self._dirty = False
        self._ckpt_due = ticks_add(now, self._ckpt_ms)

    def _event(self, code, a=0, b=0):
        return self.log.append(self.wall_s(), code, a, b)

    def wall_s(self, now=None):
        """Wall clock now, seconds since 2000-01-01."""
        return self.plan.cal.wall_s_at(self.hw.clock.ticks_ms() if now is None else now)

    def _now(self, now):
        """Ticks for a command, after delivering whatever was already due: a command never reorders time."""
        now = self.hw.clock.ticks_ms() if now is None else now
        self.tick(now)
        return now

    # ---- commands: validate, persist, apply ----
    def program(self, doc, confirm_soft=False, now=None, check_library=True):
        """Replace the therapy with a validated prescription; a refusal is logged and changes nothing."""
        now = self._now(now)
        try:
            therapy = parse_prescription(doc, self.library, self.nl_per_step, confirm_soft, check_library)
            conc = self.plan.conc_ug_per_ml
            if conc and therapy.conc_ug_per_ml != conc:
                raise PumpError(E_CONC_MISMATCH, "drug.concentration_ug_per_ml: reservoir holds %d ug/mL" % conc)
        except PumpError as e:
            self._event(ev.PROGRAM_REJECTED, e.code)
            raise
        self._persist_program(therapy)
        self.therapy = therapy
        self.unchecked = 0  # checked now (or a stop, which needs no library)
        self.safety.release_hold(A_PROGRAM_FALLBACK, now)  # reprogrammed: the clinician chose the program
        self._library_alarm(now)
        cancelled = self.plan.set_therapy(now, therapy, therapy.conc_ug_per_ml, self._may_run())
        self._cancelled(cancelled, now)
        self._program_limits(now)
        self._event(ev.PROGRAM, therapy.mode)
        self.checkpoint(now)
        return therapy

    def _persist_program(self, therapy):
        self._prog_store.save(json.dumps(therapy.to_doc()).encode())

    def refill(self, fill_ul, conc_ug_per_ml=None, now=None):
        """New fill volume; a new concentration re-validates the program, and the catheter's drug goes first at its
        own strength (it joins the catheter queue)."""
        now = self._now(now)
        fill_ul = as_int(fill_ul, "fill_ul")  # 20000.0 is 20000 (JSON writers); 1.5, NaN, true are refused
        if not 0 < fill_ul <= self.cfg.reservoir_ul:
            raise PumpError(E_RANGE, "fill_ul: 1..%d" % self.cfg.reservoir_ul)
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
        if therapy is not self.therapy:
            self._persist_program(therapy)
            self.therapy = therapy
            # the boluses in progress end with the program they were granted under: logged, allowance handed back
            self._cancelled(self.plan.set_therapy(now, therapy, self.plan.conc_ug_per_ml, self._may_run()), now)
        self.reservoir.fill(ul_to_nl(fill_ul))
        self.plan.refill(now, conc, self.cfg.catheter_volume_ul * 1000)
        self._program_limits(now)
        self.safety.refilled(now, self.reservoir.state == STATE_LOW, self.reservoir.state == STATE_EMPTY)
        self._apply_cap(now)
        self._event(ev.REFILL, fill_ul, conc)
        self.checkpoint(now)

    def prime(self, volume_ul=None, now=None):
        """Fill the catheter at the priming rate; only while therapy is not running."""
        now = self._now(now)
        if self.plan.running:
            raise PumpError(E_STATE, "prime: suspend or stop therapy first")
        volume_ul = self.cfg.catheter_volume_ul if volume_ul is None else as_int(volume_ul, "volume_ul")
        if not 0 < volume_ul <= 5000:
            raise PumpError(E_RANGE, "volume_ul: 1..5000")
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
        steps = self._bolus_steps(dose_ng, duration_ms)
        if not self.plan.start_bolus(now, kind, dose_ng, duration_ms, steps):
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

    def _may_run(self):
        return not self.suspended and not self.safety.holding

    def _tip_conc(self):
        """Strength at the catheter tip: an old drug from the queue, else the program's (which is the reservoir's)."""
        t = self.therapy
        return self.plan.catheter.tip_conc(t.conc_ug_per_ml if t is not None else 0)

    def _program_limits(self, now=None):
        """Over-delivery bounds (boluses and priming are granted as they start) and battery thresholds. Any 24 h:
        the program's heaviest 24 h of basal (across midnight too) plus the periodic boluses of two days; any hour:
        its peak basal rate for the hour plus the same periodic boluses. Volumes follow the drug at the catheter tip,
        so tick() computes these again whenever an old drug runs out there."""
        usage = self.usage_nl_per_day()
        t = self.therapy
        day = peak = hour = 0
        conc = self._limits_conc = self._tip_conc()
        if t is not None and t.mode != MODE_STOPPED:
            periodic_ng = t.max_periodic_ng()
            day = -(-(t.max_window_ng(86400000) + periodic_ng) * 1000 // conc)
            peak = -(-_peak_basal_ng_per_day(t) * 1000 // conc)
            hour = -(-periodic_ng * 1000 // conc)
        self.safety.set_program_limits(day, peak, hour, -(-usage // self.nl_per_step), now)

    def _bolus_steps(self, dose_ng, duration_ms):
        """Steps a bolus may move, plus two for the step phase at its start and end: at the weakest drug it can reach
        in the catheter queue. It pushes the old drugs at their own strengths, in turn, while the basal and the
        other boluses push them too: the reach is the drug mass of all of them over its duration, at the program's
        peak basal rate."""
        plan = self.plan
        ng_per_day = _peak_basal_ng_per_day(self.therapy)
        for b in plan.boluses:
            ng_per_day += -(-b.dose_ng * 86400000 // b.duration_ms)
        reach_ng = dose_ng + -(-ng_per_day * duration_ms // 86400000)
        conc = plan.catheter.weakest(reach_ng, plan.conc_ug_per_ml)
        return -(-dose_ng * 1000 // conc) // self.nl_per_step + 2

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
        self.checkpoint(now)

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

    def _cancelled(self, boluses, now):
        for b in boluses:
            if b.kind != ev.BOLUS_PERIODIC:
                self.safety.release(now, b.steps)
            self._event(ev.BOLUS_CANCELLED, b.delivered_ng, b.kind)

    # ---- state for telemetry (cold path) ----
    @property
    def mode_name(self):
        if self.plan.prime_nl_left:
            return "priming"
        if self.safety.holding:
            return "held"  # as the BLE status says: a safety hold waits for the resume command
        if self.therapy is None or self.therapy.mode == MODE_STOPPED:
            return "stopped"
        return "suspended" if self.suspended else "running"

    def usage_nl_per_day(self):
        """Worst-case daily volume of the program: every allowed patient bolus taken."""
        t = self.therapy
        if t is None or t.mode == MODE_STOPPED:
            return 0
        return -((-t.max_daily_total_ng() * 1000) // t.conc_ug_per_ml)

    def projected_days(self):
        """(days until low reservoir, days until empty) at worst-case usage; None where never."""
        usage = self.usage_nl_per_day()
        r = self.reservoir
        return r.days_until(r.low_nl, usage), r.days_until(r.empty_nl, usage)
