"""Battery forecast: days to the elective-replacement indicator (ERI) and to end of service (EOS), from the cell's
depth of discharge (its last rest reading on the model curve, pump.battery) and the measured daily duty (steps, sensor
reads, alarm sounding, radio time) priced by docs/battery.md's model. Recomputed once a day and when a program or a
reading changes it; never in the step path. Small ints only (no allocation on a board, even at midnight in tick).

A forecast cannot be computed without a trusted reading (none yet, or the battery sensor is faulty): `eri_days` and
`eos_days` are then None and `reason` says why. `check_program` answers what a new program would do to the ERI date.
"""

from pump.battery import (BLE_ADV_UA, BLE_CONN_S_PER_DAY, BLE_CONN_UA, CAPACITY_UAH, ERI_DAYS, QUIESCENT_UA, STATE_EOS,
                          STATE_ERI, STATE_OK, STEP_NAH, daily_uah, dod_at, thresholds)
from pump.alarms import PATTERN, PRIORITY
from pump.compat import const
from pump.errors import E_BATTERY_ERI, PumpError

READ_NAH = const(1)  # one sensor reading: the ADC and the sensor's excitation for about a millisecond (rounded up)
# buzzer and LED while the tone is on: 24 h of the high-priority pattern (7.5 % on) is the EOS reserve's 27 mAh
TONE_ON_UA = const(14300)
BATTERY_READS_PER_DAY = const(24)
_CAP_PER_100PPM = CAPACITY_UAH // 10000  # µAh per 100 ppm of depth of discharge (small ints: no ppm x µAh product)
_MAX_DAYS = const(65534)  # what a u16 field shows; more is "beyond"

REASON_OK = const(0)
REASON_NO_READING = const(1)  # no battery reading yet since boot
REASON_SENSOR_FAULT = const(2)  # the battery sensor check refused the readings
REASON_NO_BATTERY = const(3)  # the board has no battery sensor
REASON_NAMES = ("ok", "no battery reading yet", "battery sensor fault", "no battery sensor")


def days_left(dod_now_ppm, dod_then_ppm, uah_per_day):
    """Whole days from depth of discharge `dod_now_ppm` to `dod_then_ppm` at `uah_per_day` (0 if already past)."""
    if dod_then_ppm <= dod_now_ppm:
        return 0
    remaining_uah = (dod_then_ppm - dod_now_ppm) // 100 * _CAP_PER_100PPM
    return min(remaining_uah // uah_per_day, _MAX_DAYS)


def _pattern_ua(pat):
    on_ms = 0
    for i in range(0, len(pat) - 1, 2):
        on_ms += pat[i]
    return TONE_ON_UA * on_ms // pat[-1]


# the average current of each alarm priority's buzzer pattern (pump.alarms.PATTERN), µA
ALARM_UA = {prio: _pattern_ua(pat) for prio, pat in PATTERN.items()}


def alarm_ua(code):
    """Average current (µA) while alarm `code` sounds: its priority's pattern."""
    return ALARM_UA.get(PRIORITY.get(code, 0), 0)


def duty_uah(steps, reads, sounding_uah, radio_s):
    """Charge (µAh, rounded up) of one day's duty: the fixed quiescent and advertising draw, the radio connected for
    `radio_s` (at least the model's hour: a day measured with less is priced as the model's), the steps, sensor reads
    and the alarms' sounding (`sounding_uah`, pump.safety's hourly tally). Small ints for up to 5 million steps."""
    radio_s = max(radio_s, BLE_CONN_S_PER_DAY)
    fixed = (QUIESCENT_UA + BLE_ADV_UA) * 24 + (BLE_CONN_UA * radio_s + 3599) // 3600
    return fixed + (steps * STEP_NAH + reads * READ_NAH + 999) // 1000 + sounding_uah


class BatteryForecast:
    """The forecast as of the last `update`: `eri_days`, `eos_days` (None: cannot be computed, see `reason`),
    `uah_per_day` (the duty it assumed: the last day measured, else the program's planned worst case)."""

    def __init__(self):
        self.eri_days = None
        self.eos_days = None
        self.reason = REASON_NO_READING
        self.uah_per_day = daily_uah(0)
        self.measured = False  # uah_per_day is from a measured day (else from the program)
        self._planned = daily_uah(0)

    def plan(self, steps_per_day):
        """The program's worst-case steps a day: the duty assumed until a whole day is measured."""
        self._planned = daily_uah(steps_per_day)
        if not self.measured:
            self.uah_per_day = self._planned

    def day_measured(self, steps, reads, sounding_uah, radio_s):
        """A whole day's duty (at midnight): it replaces the assumption."""
        self.uah_per_day = duty_uah(steps, reads, sounding_uah, radio_s)
        self.measured = True

    def update(self, mv, monitor, reason=REASON_OK):
        """Recompute from the rest reading `mv` (0: none) and the BatteryMonitor's thresholds and state."""
        if reason == REASON_OK and mv <= 0:
            reason = REASON_NO_READING
        self.reason = reason
        if reason != REASON_OK:
            self.eri_days = self.eos_days = None
            return
        dod = dod_at(mv)
        state = monitor.state
        per_day = self.uah_per_day
        self.eos_days = 0 if state == STATE_EOS else days_left(dod, dod_at(monitor.eos_mv), per_day)
        self.eri_days = 0 if state != STATE_OK else days_left(dod, dod_at(monitor.eri_mv), per_day)


def check_program(forecast, mv, monitor_state, steps_per_day, confirmed):
    """What a new program of `steps_per_day` (worst case) does to the replacement window: days to its ERI (None when
    no reading allows a forecast; -1 when no threshold can give a 90-day warning at that rate). PumpError(E_BATTERY_ERI)
    when that is within ERI_DAYS and not `confirmed`. Cold path (the thresholds use big ints)."""
    try:
        eri_mv, _eos_mv = thresholds(steps_per_day)
    except PumpError:
        if not confirmed:
            raise PumpError(E_BATTERY_ERI, "program: %d steps a day: no 90-day replacement warning is possible at "
                            "this rate: confirm to accept" % steps_per_day)
        return -1
    if forecast.reason != REASON_OK or mv <= 0:
        return None
    days = 0 if monitor_state in (STATE_ERI, STATE_EOS) else days_left(dod_at(mv), dod_at(eri_mv),
                                                                        daily_uah(steps_per_day))
    if days < ERI_DAYS and not confirmed:
        raise PumpError(E_BATTERY_ERI, "program: the battery would reach elective replacement in %d days at it, "
                        "under %d: confirm to accept" % (days, ERI_DAYS))
    return days
