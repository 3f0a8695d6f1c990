"""Pump configuration: calibration, thresholds and cadences, with safe defaults and whole-or-nothing validation."""

from pump.compat import const
from pump.errors import E_MALFORMED, E_RANGE, PumpError
from pump.therapy import MIN_RATE_NL_PER_DAY
from pump.units import as_int

RESET_POWER_ON = const(0)
RESET_WATCHDOG = const(1)
RESET_SOFT = const(2)
RESET_OTHER = const(3)

# key: (default, min, max). Volumes in µL or nL as named, times in s or ms as named.
_FIELDS = {
    "nl_per_step": (200, 1, 100000),  # mechanism calibration: volume moved by one motor step
    "catheter_volume_ul": (150, 0, 5000),  # priming volume; the old drug a refill with a new strength leaves
    "reservoir_ul": (40000, 1000, 100000),  # largest fill the reservoir takes
    "low_reservoir_ul": (3000, 0, 100000),
    "empty_reservoir_ul": (500, 0, 100000),  # below this the reservoir counts as empty
    "min_rate_at_empty_nl_per_day": (0, 0, 50000000),  # 0: delivery stops when empty
    "prime_rate_nl_per_day": (36000000, 10000, 50000000),  # 25 µL/min
    "checkpoint_interval_s": (900, 10, 86400),  # at most one write per interval, and only when something changed
    "status_interval_s": (3600, 1, 86400),  # console status line cadence (pump time)
    "max_steps_per_wake": (16, 1, 1000),  # steps delivered back-to-back before yielding to other tasks
    # refill reconciliation (pump.refillcheck): an aspirated volume further than the larger of these from the
    # expected residual is a discrepancy
    "refill_tolerance_ul": (1000, 0, 100000),
    "refill_tolerance_pct": (15, 0, 100),
    # the patient's local time - UTC, in minutes: the pump keeps UTC, the schedule's times of day are local
    "utc_offset_min": (0, -720, 840),
}


def field_max(key):
    """The largest value configuration key `key` may take (stored records are checked against it)."""
    return _FIELDS[key][2]


class PumpConfig:
    """Validated configuration; attributes named as the keys of _FIELDS. Errors name the key as `where`.KEY (where:
    the object's place in its file, "pump" in config.json and in scenarios); 200.0 is 200."""

    def __init__(self, doc=None, where="pump"):
        doc = {} if doc is None else doc
        if type(doc) is not dict:
            raise PumpError(E_MALFORMED, "%s: must be an object" % where)
        for key in doc:
            if key not in _FIELDS:
                raise PumpError(E_MALFORMED, "%s.%s: unknown key" % (where, key))
        values = {}
        for key, (default, lo, hi) in _FIELDS.items():
            v = as_int(doc.get(key, default), "%s.%s" % (where, key))
            if not lo <= v <= hi:
                raise PumpError(E_RANGE, "%s.%s: %d not in %d..%d" % (where, key, v, lo, hi))
            values[key] = v
        if values["empty_reservoir_ul"] > values["low_reservoir_ul"]:
            raise PumpError(E_RANGE, "%s.empty_reservoir_ul: above low_reservoir_ul" % where)
        # a rate the pump may run at must be a therapy rate (>= 0.01 mL/day and >= one step a day): a slower one has
        # no step interval within the ticks horizon, and the dose plan could not time it
        lowest = max(MIN_RATE_NL_PER_DAY, values["nl_per_step"])
        for key in ("prime_rate_nl_per_day", "min_rate_at_empty_nl_per_day"):
            if 0 < values[key] < lowest:
                raise PumpError(E_RANGE, "%s.%s: below the lowest rate, %d nL/day" % (where, key, lowest))
        self.nl_per_step = values["nl_per_step"]
        self.catheter_volume_ul = values["catheter_volume_ul"]
        self.reservoir_ul = values["reservoir_ul"]
        self.low_reservoir_ul = values["low_reservoir_ul"]
        self.empty_reservoir_ul = values["empty_reservoir_ul"]
        self.min_rate_at_empty_nl_per_day = values["min_rate_at_empty_nl_per_day"]
        self.prime_rate_nl_per_day = values["prime_rate_nl_per_day"]
        self.checkpoint_interval_s = values["checkpoint_interval_s"]
        self.status_interval_s = values["status_interval_s"]
        self.max_steps_per_wake = values["max_steps_per_wake"]
        self.refill_tolerance_ul = values["refill_tolerance_ul"]
        self.refill_tolerance_pct = values["refill_tolerance_pct"]
        self.utc_offset_min = values["utc_offset_min"]
        if self.utc_offset_min % 15:
            raise PumpError(E_RANGE, "%s.utc_offset_min: %d: a whole number of quarter hours" % (
                where, self.utc_offset_min))

    def to_doc(self):
        return {key: getattr(self, key) for key in _FIELDS}
