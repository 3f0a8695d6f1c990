"""Safety supervisor: runs every check around each step burst and on its sampling cadence, and turns verdicts into
alarms and holds. It reads sensors through the injected roles and never touches the dose plan: the controller calls
`before_burst()` before a burst (it reads the pressure, judges occlusion and sensor faults, and on an occlusion
reverses the motor for the back-off; False: the burst must not run), reports the burst with `stepped()`, and stops
dosing while `holding` is non-zero.
"""

from pump import alarms as al
from pump.alarms import Alarms
from pump.battery import STATE_EOS, STATE_ERI, BatteryMonitor, max_steps_per_day, thresholds
from pump.errors import PumpError
from pump.forecast import alarm_ua
from pump.compat import const, ticks_add, ticks_diff
from pump.monoclock import MonoClock
from pump.occlusion import OCCLUDED, detector_for
from pump.overdelivery import OverDeliveryMonitor, allowed_steps
from pump.sensorfault import FAULT_NONE, SensorCheck
from pump.stall import StallCheck

_BATTERY_PERIOD_MS = const(3600000)  # battery sampled hourly, at rest
# alarms that stop dosing until their condition is gone and a resume command releases the hold
HOLDING = (
    (1 << (al.A_OCCLUSION - 1))
    | (1 << (al.A_BATTERY_EOS - 1))
    | (1 << (al.A_MOTOR_STALL - 1))
    | (1 << (al.A_OVER_DELIVERY - 1))
    | (1 << (al.A_PRESSURE_SENSOR_FAULT - 1))
    | (1 << (al.A_PROGRAM_FALLBACK - 1))
    | (1 << (al.A_STATE_LOST - 1))
)
# holds raised at boot from what the stores held: the resume command is the clinician's confirmation that releases
# them (a new program also releases PROGRAM_FALLBACK, pump.controller)
_CONFIRMED = (1 << (al.A_PROGRAM_FALLBACK - 1)) | (1 << (al.A_STATE_LOST - 1))

# fault alarms latched for someone to look at, also across a reset, until acknowledged
_KEPT = ((1 << (al.A_WATCHDOG_RESET - 1)) | (1 << (al.A_TASK_FAULT - 1)) | (1 << (al.A_STORE_CORRUPT - 1))
         | (1 << (al.A_REFILL_DISCREPANCY - 1)))
_HOUR_MS = const(3600000)
_MAX_STEPS = []  # max_steps_per_day(), computed once when a program first needs it (24 threshold computations)


def _max_steps():
    if not _MAX_STEPS:
        _MAX_STEPS.append(max_steps_per_day())
    return _MAX_STEPS[0]


class Safety:
    """The checks of docs/safety.md on the board's roles; `log_event(event_code, alarm_code)` records alarm events."""

    def __init__(self, hw, nl_per_step, log_event, now, mono=None):
        """`mono`: the pump's monotonic clock (pump.monoclock), shared with the controller; its own if None."""
        self.hw = hw
        self.mono = mono if mono is not None else MonoClock(now)
        self.nl_per_step = nl_per_step
        self.alarms = Alarms(log_event)
        self.holding = 0  # bitmap of HOLDING alarms whose hold is not released yet
        self.occlusion = detector_for(hw.pressure, nl_per_step)
        # pressure in 0.1 kPa from a 0-100 kPa gauge: its rails (0 and 1000) mean an open line; the residual before
        # each step moves with the CSF waves, so 32 identical readings in a row mean a stuck sensor. Noise is judged
        # on the jump of each burst (peak - residual, milliseconds apart: posture and waves cancel), which repeats
        # from burst to burst but for the sensor's noise: "noisy" is a mean change above 0.8 kPa over 16 bursts
        # (docs/safety.md, sensor faults), never the residuals themselves, minutes apart at low rates
        self.pressure_check = SensorCheck(1, 999, 0, 1000, 32, 16, 8, 4, True) if hw.pressure else None
        self.battery_check = SensorCheck(1500, 4500, 200, 4900, 64, 9, 80, 4)
        eri_mv, eos_mv = thresholds(0)
        self.battery = BatteryMonitor(eri_mv, eos_mv)
        self.battery_due = now
        # on the monotonic clock: idle time of any length ages them, no wall-clock change moves them
        self.day_window = OverDeliveryMonitor(3600, 24, self.mono.s)
        self.hour_window = OverDeliveryMonitor(300, 12, self.mono.s)  # a runaway is caught within the hour
        # the stall check runs on an encoder, on the driver's DIAG input, or on both: DIAG alone latches on its edge
        self._encoder = encoder = hw.encoder
        self._diag = hw.stall
        self.stall = None
        if encoder is not None or self._diag is not None:
            self.stall = StallCheck(encoder.counts_per_step if encoder is not None else 1)
        self._encoder_last = encoder.count() if encoder is not None else 0
        # steps that moved no drug out of the catheter after all, for the dosing's catheter queue: drawn back by the
        # occlusion back-off (the last before_burst), or commanded but not seen by the encoder (the last burst; up to
        # two steps' counts are left in `_unseen` in case their edges come late)
        self.backed_off = 0
        self.unmoved = 0
        self._unseen = 0
        self.last_p = 0
        self.battery_mv = 0  # the last hourly battery reading (0: none yet), for telemetry
        self.battery_short = False  # the program's rate allows no 90-day replacement warning (docs/battery.md)
        self.sounding_uah = 0  # the alarms' buzzer today, sampled hourly (the battery forecast's duty)
        if not self.occlusion.available:
            self.alarms.set_condition(al.A_OCCLUSION_SENSING_UNAVAILABLE, True, now)

    # ---- limits from the program (cold path) ----
    def set_program_limits(self, day_nl, peak_nl_per_day, hour_nl, steps_per_day, now=None):
        """Over-delivery bounds without the boluses (granted as they start): 24 h, the program's worst day `day_nl`;
        1 h, its peak basal rate plus `hour_nl` (its periodic boluses). 0 for day_nl: no program, no delivery
        allowed. Battery thresholds for the program's worst daily step count (patient boluses included). With `now`
        (ticks), the steps already in the windows stay allowed until they leave them."""
        nl_step = self.nl_per_step
        now_s = self._mono_s(now) if now is not None else None
        self.day_window.set_limit(min(allowed_steps(day_nl, nl_step, 86400000), 0x3FFFFFFF), now_s)
        limit = allowed_steps(peak_nl_per_day, nl_step, _HOUR_MS) + -(-hour_nl // nl_step)
        self.hour_window.set_limit(min(limit, 0x3FFFFFFF), now_s)
        try:
            eri_eos = thresholds(steps_per_day)
            self.battery_short = False
        except PumpError:  # no 90-day warning possible at this rate: the earliest warning the cell can give, said
            eri_eos = thresholds(_max_steps())
            self.battery_short = True
        self.battery.set_thresholds(*eri_eos)

    def grant_steps(self, steps):
        """A bolus (or priming) of `steps` starts: both windows allow them; returns `steps`."""
        self.day_window.grant(steps)
        self.hour_window.grant(steps)
        return steps

    def release(self, now, steps):
        """The bolus granted `steps` ended (done or cancelled)."""
        now_s = self._mono_s(now)
        self.day_window.release(now_s, steps)
        self.hour_window.release(now_s, steps)

    def _mono_s(self, now):
        """The monotonic second at ticks `now` (the controller has advanced the clock already; tests may not)."""
        mono = self.mono
        mono.advance(now)
        return mono.s

    # ---- around each burst (hot path) ----
    def before_burst(self, now):
        """Read the pressure just before a burst and judge it: a sensor fault holds dosing; an occlusion raises its
        alarm and steps the motor back by the trapped volume (the back-off). False when dosing must stop now."""
        self.backed_off = 0
        pressure = self.hw.pressure
        check = self.pressure_check
        if pressure is None or check is None:
            return not self.holding
        p = pressure.read_kpa_x10()
        self.last_p = p
        if self._pressure_fault(check.sample(p, True), now):
            return False
        occ = self.occlusion
        occ.before_step(p, now)
        if occ.state == OCCLUDED:
            self._raise(al.A_OCCLUSION, now)
            k = self.backed_off = occ.backoff_steps(self.nl_per_step)
            self.hw.stepper.step_reverse(k)
            return False
        return not self.holding

    def stepped(self, now, n):
        """Report a burst of n forward steps handed to the driver."""
        pressure = self.hw.pressure
        if pressure is not None:
            p = pressure.read_kpa_x10()
            self.occlusion.after_step(p, n, now)
            if self.pressure_check is not None:  # the pair around the burst: a noisy one holds dosing now
                self._pressure_fault(self.pressure_check.pair(self.last_p, p, n), now)
        now_s = self._mono_s(now)
        if self.day_window.count(now_s, n) | self.hour_window.count(now_s, n):
            self._raise(al.A_OVER_DELIVERY, now)
            self.hw.stepper.disable()
        stall = self.stall
        if stall is not None:
            encoder = self._encoder
            if encoder is not None:
                count = encoder.count()
                seen = (count - self._encoder_last) & 0x3FFFFFFF
                stall.steps(n, seen)
                self._encoder_last = count
                # in counts, so a step's edges split across two bursts are not lost to rounding
                cps = stall.counts_per_step
                unseen = self._unseen + n * cps - seen
                if unseen < 0:
                    unseen = 0  # (edges of earlier steps, or of the back-off's)
                self.unmoved = (unseen - cps) // cps if unseen > cps else 0
                self._unseen = unseen - self.unmoved * cps
            if self._diag is not None and self._diag.triggered():
                stall.diag()
            if stall.stalled:
                self._raise(al.A_MOTOR_STALL, now)

    def _pressure_fault(self, fault, now):
        """True when the pressure check reports a fault: alarm raised, dosing held."""
        if fault != FAULT_NONE:
            self._raise(al.A_PRESSURE_SENSOR_FAULT, now)
            return True
        return False

    def _raise(self, code, now):
        self.alarms.set_condition(code, True, now)
        if HOLDING & (1 << (code - 1)):
            self.holding |= 1 << (code - 1)

    def hold(self, code, now):
        """Raise a HOLDING alarm found at boot (a lost state store, a program fallback): dosing stops until the
        resume command releases it."""
        self._raise(code, now)

    # ---- sampling cadence (cold path) ----
    def sample(self, now, reservoir_state_low, reservoir_state_empty):
        """Battery every hour, reservoir alarms from the reservoir state; returns the next sampling deadline."""
        alarms = self.alarms
        alarms.set_condition(al.A_RESERVOIR_LOW, reservoir_state_low, now)
        alarms.set_condition(al.A_RESERVOIR_EMPTY, reservoir_state_empty, now)
        if ticks_diff(now, self.battery_due) >= 0 and self.hw.battery is not None:
            self.battery_due = ticks_add(now, _BATTERY_PERIOD_MS)
            # sampled with the hourly reading: the hour is priced at the pattern sounding now (or none)
            self.sounding_uah += alarm_ua(alarms.sounding(now))
            mv = self.battery_mv = self.hw.battery.read_mv()
            # the reading carries a few mV of ADC noise: 64 identical hourly readings (stuck_n) mean a stuck sensor
            fault = self.battery_check.sample(mv, True)
            alarms.set_condition(al.A_BATTERY_SENSOR_FAULT, fault != FAULT_NONE, now)
            if fault == FAULT_NONE:
                self.battery.sample(mv, now)
                state = self.battery.state
                alarms.set_condition(al.A_BATTERY_ERI, state == STATE_ERI, now)
                if state == STATE_EOS:
                    self._raise(al.A_BATTERY_EOS, now)
                    self.hw.stepper.disable()
        return self.battery_due

    # ---- commands ----
    def refilled(self, now, low, empty):
        """A refill resets the reservoir alarms whose condition it removed (the refill is their acknowledgement)."""
        alarms = self.alarms
        for code, present in ((al.A_RESERVOIR_LOW, low), (al.A_RESERVOIR_EMPTY, empty)):
            alarms.set_condition(code, present, now)
            if not present and alarms.is_active(code):
                alarms.acknowledge(now, code)

    def clock_set(self, now):
        """The wall clock was set: CLOCK_NOT_SET's condition is gone, and the setting is its acknowledgement."""
        alarms = self.alarms
        alarms.set_condition(al.A_CLOCK_NOT_SET, False, now)
        if alarms.is_active(al.A_CLOCK_NOT_SET):
            alarms.acknowledge(now, al.A_CLOCK_NOT_SET)

    def release_holds(self, now):
        """Release every hold whose condition is gone (the resume command); returns the holds still in force."""
        if self.holding & (1 << (al.A_OCCLUSION - 1)):
            pressure = self.hw.pressure
            p = pressure.read_kpa_x10() if pressure is not None else 0
            if self.occlusion.cleared(p):
                self.occlusion.rearm()
                if self.pressure_check is not None:
                    self.pressure_check.reset()  # the occluded rise and the back-off are not sensor noise
                self._release(al.A_OCCLUSION, now)
        check = self.pressure_check
        pressure = self.hw.pressure
        if self.holding & (1 << (al.A_PRESSURE_SENSOR_FAULT - 1)) and check is not None and pressure is not None:
            # the sensor was serviced: start its checks afresh; a reading outside the sensor's range still refuses,
            # and a sensor still stuck or noisy is caught again within the detection bound
            check.reset()
            p = pressure.read_kpa_x10()
            if check.lo <= p <= check.hi:
                self.occlusion.reset()  # new baseline from the serviced sensor
                self._release(al.A_PRESSURE_SENSOR_FAULT, now)
        if self.holding & (1 << (al.A_MOTOR_STALL - 1)) and self.stall is not None:
            self.stall.reset()
            self._release(al.A_MOTOR_STALL, now)
        if self.holding & (1 << (al.A_BATTERY_EOS - 1)) and self.hw.battery is not None:
            # end of service is final for the cell: released only once a reading shows a fresh one (above ERI)
            mv = self.hw.battery.read_mv()
            if self.battery_check.sample(mv, True) == FAULT_NONE and mv > self.battery.eri_mv:
                self.battery.reset()
                self._release(al.A_BATTERY_EOS, now)
        if self.holding & (1 << (al.A_OVER_DELIVERY - 1)):
            now_s = self._mono_s(now)
            self.day_window.clear(now_s)
            self.hour_window.clear(now_s)
            self._release(al.A_OVER_DELIVERY, now)
        for code in (al.A_PROGRAM_FALLBACK, al.A_STATE_LOST):
            self.release_hold(code, now)
        return self.holding

    def _release(self, code, now):
        self.holding &= ~(1 << (code - 1))
        self.alarms.set_condition(code, False, now)

    def release_hold(self, code, now):
        """Release a hold the clinician confirmed (_CONFIRMED: the resume command, a new program); no-op if absent."""
        if self.holding & _CONFIRMED & (1 << (code - 1)):
            self._release(code, now)

    # ---- across a reset ----
    def latched(self):
        """Bitmap (bit code-1) of what must outlive a reset: holds in force and unacknowledged fault alarms."""
        return self.holding | (self.alarms.active_bitmap & _KEPT)

    def restore(self, latched, occ_base_kpa_x10, occ_jump_x256, now):
        """After a reset: holds stay in force (dosing waits for the resume command), fault alarms stay latched."""
        for code in range(1, 33):
            bit = 1 << (code - 1)
            if latched & bit & HOLDING:
                self._raise(code, now)
            elif latched & bit & _KEPT:
                self.latch(code, now)
        if self.holding & (1 << (al.A_OCCLUSION - 1)):
            self.occlusion.restore(occ_base_kpa_x10, occ_jump_x256)  # the resume is judged against the old baseline

    def windows_saved(self):
        """The over-delivery windows' contents for the checkpoint (day window first)."""
        return [self.day_window.saved(), self.hour_window.saved()]

    def restore_windows(self, saved, now):
        """After a reset: the over-delivery windows as checkpointed, so a breach that was building is still caught."""
        now_s = self._mono_s(now)
        for window, rec in zip((self.day_window, self.hour_window), saved):
            window.restore(rec[0], rec[1], rec[2], rec[3], rec[4], now_s)

    def latch(self, code, now):
        """Raise an event alarm (no lasting condition): latched until acknowledged."""
        self.alarms.set_condition(code, True, now)
        self.alarms.set_condition(code, False, now)
