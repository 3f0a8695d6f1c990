"""Battery model (Li-MnO2 cell, consumption, voltage vs depth of discharge), ERI/EOS thresholds and their monitor.

docs/battery.md explains the numbers. Depth of discharge (DoD) is in ppm of the design capacity; voltages are the
cell's rest voltage in mV as the calibrated battery reading reports it. Threshold arithmetic runs on the cold path
(program changes, boot) and may use big integers; `BatteryMonitor.sample` is small-int only.
"""

from pump.compat import const
from pump.errors import E_RANGE, PumpError

# ---- the cell: spiral-wound Li-MnO2, A size (CR17450 class), 3.0 V nominal ----------------------------------------
CAPACITY_UAH = const(2200000)  # 2.5 Ah nominal derated for pulse load, temperature and ten years of shelf life
# Rest voltage (mV, about 20 °C, quiescent load) against DoD (ppm): a gently sloping plateau, then the knee.
CURVE = (
    (0, 3150),
    (50000, 3050),
    (300000, 3000),
    (600000, 2950),
    (800000, 2900),
    (880000, 2850),
    (930000, 2750),
    (960000, 2600),
    (980000, 2400),
    (1000000, 2000),
)

# ---- consumption ----------------------------------------------------------------------------------------------------
QUIESCENT_UA = const(35)  # MCU asleep, regulator, RTC (20 µA) + the 100 k / 100 k battery divider (15 µA at 3 V)
BLE_ADV_UA = const(20)  # advertising every 1 s, averaged
BLE_CONN_UA = const(300)  # while a phone is connected (30 ms interval), averaged
BLE_CONN_S_PER_DAY = const(3600)  # one hour of connection a day
STEP_NAH = const(200)  # one dose step: 300 mA for 2 ms through the motor boost, wake-up and driver enable
FIXED_UAH_PER_DAY = (QUIESCENT_UA + BLE_ADV_UA) * 24 + BLE_CONN_UA * BLE_CONN_S_PER_DAY // 3600

# ---- thresholds -----------------------------------------------------------------------------------------------------
ERI_DAYS = const(90)  # operation left between the replacement indicator and end of service
EOS_RESERVE_UAH = const(50000)  # after EOS: 14 days of sleep + BLE, and 24 h of an unacknowledged high-priority alarm
READING_ERR_PPM = const(5000)  # ±0.5 %: the battery reading calibrated at assembly (battery_div_num/den)
FRESH_DOD_PPM = const(50000)  # an ERI threshold must stay below a cell that has used 5 % (else no threshold exists)

STATE_OK = const(0)
STATE_ERI = const(1)
STATE_EOS = const(2)
STATE_NAMES = ("ok", "eri", "eos")

_PPM = const(1000000)


def mv_at(dod_ppm):
    """Rest voltage of the model cell at a depth of discharge (ppm, clamped to 0..1e6)."""
    if dod_ppm <= 0:
        return CURVE[0][1]
    for i in range(1, len(CURVE)):
        d1, v1 = CURVE[i]
        if dod_ppm <= d1:
            d0, v0 = CURVE[i - 1]
            return v0 - (v0 - v1) * (dod_ppm - d0) // (d1 - d0)
    return CURVE[-1][1]


def dod_at(mv):
    """Smallest depth of discharge (ppm) at which the model cell's rest voltage is at or below `mv`."""
    if mv >= CURVE[0][1]:
        return 0
    for i in range(1, len(CURVE)):
        d1, v1 = CURVE[i]
        if mv >= v1:
            d0, v0 = CURVE[i - 1]
            return d0 + ((d1 - d0) * (v0 - mv) + (v0 - v1) - 1) // (v0 - v1)
    return _PPM


def daily_uah(steps_per_day):
    """Charge drawn per day (µAh, rounded up) at `steps_per_day`."""
    return FIXED_UAH_PER_DAY + (steps_per_day * STEP_NAH + 999) // 1000


def _ceil_div(a, b):
    return -(-a // b)


def thresholds(steps_per_day, days=ERI_DAYS, capacity_uah=CAPACITY_UAH, err_ppm=READING_ERR_PPM):
    """(eri_mv, eos_mv) for readings with ±err_ppm error: ERI leaves >= `days` of operation at `steps_per_day`.

    EOS is set so that even a reading err_ppm high trips it with EOS_RESERVE_UAH still in the cell. The `days` are
    counted from the latest ERI (reading high) to the earliest EOS (reading low). PumpError(E_RANGE,
    "steps_per_day") when no threshold below a fresh cell (FRESH_DOD_PPM used) can give that reserve.
    """
    hi = _PPM + err_ppm
    lo = _PPM - err_ppm
    eos_late = _PPM - _ceil_div(EOS_RESERVE_UAH * _PPM, capacity_uah)
    eos_mv = _ceil_div(mv_at(eos_late) * hi, _PPM)
    eos_early = dod_at(_ceil_div(eos_mv * _PPM, lo))
    reserve = _ceil_div(days * daily_uah(steps_per_day) * _PPM, capacity_uah)
    eri_late = eos_early - reserve
    eri_mv = _ceil_div(mv_at(eri_late) * hi, _PPM) if eri_late > 0 else CURVE[0][1] * 2
    if eri_mv * _PPM >= mv_at(FRESH_DOD_PPM) * lo:
        raise PumpError(E_RANGE, "steps_per_day")
    return eri_mv, eos_mv


def max_steps_per_day(days=ERI_DAYS, capacity_uah=CAPACITY_UAH, err_ppm=READING_ERR_PPM):
    """The largest daily step count for which `thresholds` exists (0 if none)."""
    lo = -1
    hi = 1 << 24
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            thresholds(mid, days, capacity_uah, err_ppm)
            lo = mid
        except PumpError:
            hi = mid
    return max(lo, 0)


def max_daily_steps(library, nl_per_step):
    """The most steps a day any program the drug library allows can take: largest daily hard maximum at the lowest
    allowed concentration (patient boluses included), in whole steps of `nl_per_step`."""
    best = 0
    for name in library.names():
        b = library.limits(name).bounds
        daily_ng = b[1][3]  # QTY_DAILY hard_max, ng/day
        conc_milli = b[0][0]  # QTY_CONC hard_min, µg/mL x 1000
        nl = _ceil_div(daily_ng * _PPM, conc_milli)
        best = max(best, _ceil_div(nl, nl_per_step))
    return best


class BatteryMonitor:
    """OK -> ERI -> EOS from rest-voltage samples, each change confirmed by `debounce` consecutive samples.

    Down: a sample at or below eri_mv (eos_mv) counts towards ERI (EOS). Up (ERI -> OK only, e.g. a cold cell
    warming): samples above eri_mv + hyst_mv. EOS is final until `reset()` (battery changed). Feed only samples the
    sensor check passed, taken at rest (not during a motor burst).
    """

    def __init__(self, eri_mv, eos_mv, debounce=3, hyst_mv=50):
        if not 0 < eos_mv < eri_mv or debounce < 1 or hyst_mv < 0:
            raise PumpError(E_RANGE, "eri_mv")
        self.eri_mv = eri_mv
        self.eos_mv = eos_mv
        self.debounce = debounce
        self.hyst_mv = hyst_mv
        self.reset()

    def reset(self):
        """A new battery: back to OK."""
        self.state = STATE_OK
        self.changed_ms = 0
        self._low_n = 0  # consecutive samples <= eri_mv
        self._eos_n = 0  # consecutive samples <= eos_mv
        self._up_n = 0  # consecutive samples > eri_mv + hyst_mv

    def set_thresholds(self, eri_mv, eos_mv):
        """New thresholds (e.g. for a new program's daily step count); they apply from the next sample."""
        if not 0 < eos_mv < eri_mv:
            raise PumpError(E_RANGE, "eri_mv")
        self.eri_mv = eri_mv
        self.eos_mv = eos_mv

    def sample(self, mv, now):
        """Feed one reading; returns the new state when it changed, else None."""
        state = self.state
        if state == STATE_EOS:
            return None
        self._eos_n = self._eos_n + 1 if mv <= self.eos_mv else 0
        self._low_n = self._low_n + 1 if mv <= self.eri_mv else 0
        self._up_n = self._up_n + 1 if mv > self.eri_mv + self.hyst_mv else 0
        n = self.debounce
        if self._eos_n >= n:
            new = STATE_EOS
        elif state == STATE_OK and self._low_n >= n:
            new = STATE_ERI
        elif state == STATE_ERI and self._up_n >= n:
            new = STATE_OK
        else:
            return None
        self.state = new
        self.changed_ms = now
        self._low_n = self._eos_n = self._up_n = 0
        return new
