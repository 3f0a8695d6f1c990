"""The pump's dosing core: its parts (dose plan, reservoir, counters, safety checks, stores, event log) and the hot
path that runs them in time. `tick(now)` is the only per-step entry: it delivers the steps due, accounts for them,
runs the checks on their cadence, saves the counters at a bounded cadence and returns the next deadline; holds,
an empty reservoir and a new day are handled here too. Boot and commands are the Pump's (pump.controller).
"""

from pump import events as ev
from pump.alarms import A_BATTERY_SENSOR_FAULT
from pump.bolus import PatientBolusPolicy
from pump.checkpoint import (FLAG_CLOCK_SET, FLAG_CLOCK_UNKNOWN, FLAG_RESIDUAL_UNKNOWN, FLAG_SUSPENDED, OLDER, VERSION,
                             Counters, pack)
from pump.compat import ticks_add, ticks_diff
from pump.doseplan import DosePlan
from pump.eventlog import EventLog
from pump.forecast import REASON_NO_BATTERY, REASON_OK, REASON_SENSOR_FAULT, BATTERY_READS_PER_DAY, BatteryForecast
from pump.limits import usage_nl_per_day, window_limits
from pump.monoclock import MonoClock
from pump.reservoir import STATE_EMPTY, STATE_LOW, Reservoir
from pump.safety import Safety
from pump.state import STATE_NAMES, PumpState, therapy_state
from pump.store import Store

# a program arrives in one command message (at most 3072 bytes: pump.gatt.CMD_MAX, pump.wire.MESSAGE_MAX) and is
# stored in its checked form, no longer than what came; 4 KB keeps a margin, where 8 KB held a block of the Pico's heap
# that .mpy code, loaded into the same heap, could no longer leave whole (the real port: docs/performance.md)
_PROGRAM_MAX_BYTES = 4096
_HALTED_WAKE_MS = 3600000


class Dosing:
    """The pump's parts and its time-driven behaviour; `hw` gives the roles of docs/roles.md, `config` the PumpConfig,
    `library` the DrugLibrary (or None); `now` the ticks it starts at."""

    def __init__(self, hw, config, library, now):
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
        self.mono = MonoClock(now)  # restored from the checkpoint at boot (pump.controller)
        self.plan = DosePlan(config.nl_per_step, config.prime_rate_nl_per_day, 0, now, self.mono,
                             config.utc_offset_min * 60)
        self.safety = Safety(hw, config.nl_per_step, self._event, now, self.mono)
        self.alarms = self.safety.alarms
        self.forecast = BatteryForecast()
        self.radio_s = 0  # radio connected today (s), reported by the link (radio_connected)
        self._whole_day = False  # the day now running began after this boot: its duty is measured whole
        self._clock_setting = False  # a clock setting is between saving the new time and writing the RTC
        self._sample_due = now
        self._dirty = False
        self._ckpt_due = now  # the first change after a boot is saved at once: resets cannot starve the checkpoint
        self.halted = False  # a task fault stopped the pump: no step until the board resets
        self.retimed = False  # a command ran since the app's dosing task last asked for the next deadline
        self.unchecked = 0  # error code of the library check the running program failed at boot (0: checked)
        self.first_boot = False  # no record in the state and program stores at boot: a new pump
        self.residual_known = True  # the reservoir estimate is the expected residual of the next refill
        self.last_refill = None  # the last refill's (expected, aspirated, tolerance, difference) µL (pump.refillcheck)
        self.clock_known = True  # the wall clock was set (or kept by the RTC); False: never set, or lost at boot
        self._prime_steps = 0  # over-delivery allowance of the priming in progress
        self._trial_due = False  # a new day began: the trial's titration is looked at after the steps due
        self._limits_conc = 0  # the tip concentration the over-delivery bounds were computed for
        self._state = PumpState(self)  # filled in place by state()

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
        if self._trial_due:  # a new day: a titration step may be due (pump.controller); cold path
            self._trial_due = False
            self._trial_advance(now)
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
            if not safety.before_burst(now):
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
        self._forecast()
        if self.safety.holding:
            self._hold(now)

    def _forecast(self):
        """The battery forecast from the last reading (small ints: runs at the sampling cadence and at midnight)."""
        safety = self.safety
        if self.hw.battery is None:
            reason = REASON_NO_BATTERY
        elif safety.alarms.is_active(A_BATTERY_SENSOR_FAULT):
            reason = REASON_SENSOR_FAULT
        else:
            reason = REASON_OK
        self.forecast.update(safety.battery_mv, safety.battery, reason)

    def radio_connected(self, s):
        """`s` seconds of radio connection ended (the link reports it): the battery forecast's measured duty."""
        self.radio_s += s

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
        c = self.c
        if self._whole_day:  # the day that ended ran whole since the boot: its duty prices the forecast
            steps = c.delivered_today_nl // self.nl_per_step
            reads = BATTERY_READS_PER_DAY + (2 * steps if self.hw.pressure is not None else 0)  # a read either
            self.forecast.day_measured(steps, reads, self.safety.sounding_uah, self.radio_s)  # side of each burst
        self._whole_day = True
        self.safety.sounding_uah = 0
        self.radio_s = 0
        c.day = self.plan.cal.day
        c.delivered_today_nl = 0
        self._dirty = True
        self._forecast()
        self._trial_due = True

    def _trial_advance(self, now):
        """The screening trial's titration step due (pump.controller.Pump)."""

    def checkpoint(self, now):
        """Persist the counters (bounded cadence; also right after every command)."""
        c = self.c
        c.set_times(self.plan.cal.wall_ms_at(now), self.mono.ms_at(now))
        c.flags = ((FLAG_SUSPENDED if self.suspended else 0) | (FLAG_CLOCK_SET if self._clock_setting else 0)
                   | (0 if self.residual_known else FLAG_RESIDUAL_UNKNOWN)
                   | (0 if self.clock_known else FLAG_CLOCK_UNKNOWN))
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

    # ---- the program's bounds ----
    def _may_run(self):
        return not self.suspended and not self.safety.holding

    def _tip_conc(self):
        """Strength at the catheter tip: an old drug from the queue, else the program's (which is the reservoir's)."""
        t = self.therapy
        return self.plan.catheter.tip_conc(t.conc_ug_per_ml if t is not None else 0)

    def _program_limits(self, now=None):
        """Over-delivery bounds (pump.limits; boluses and priming are granted as they start) and battery thresholds.
        Volumes follow the drug at the catheter tip, so tick() computes these again whenever an old drug runs out
        there."""
        conc = self._limits_conc = self._tip_conc()
        day, peak, hour = window_limits(self.therapy, conc)
        usage = usage_nl_per_day(self.therapy)
        steps = -(-usage // self.nl_per_step)
        self.safety.set_program_limits(day, peak, hour, steps, now)
        self.forecast.plan(steps)
        self._forecast()

    def _cancelled(self, boluses, now):
        for b in boluses:
            if b.kind != ev.BOLUS_PERIODIC:
                self.safety.release(now, b.steps)
            self._event(ev.BOLUS_CANCELLED, b.delivered_ng, b.kind)

    # ---- what the pump shows (pump.state) ----
    def state(self, now):
        """The pump's state snapshot at ticks `now` (a PumpState filled in place: no allocation)."""
        return self._state.fill(now)

    @property
    def state_name(self):
        """What therapy is doing: running, suspended, held, stopped, priming or halted (pump.state)."""
        return STATE_NAMES[therapy_state(self)]
