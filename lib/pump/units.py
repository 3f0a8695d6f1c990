"""Exact integer unit conversions: µg→ng, µL→nL, minutes→ms, "HH:MM"→ms of day, dose and concentration→nL/day; the
checks of numbers read from JSON (an integral float is that integer: JSON writers emit 10000.0)."""

from pump.compat import const
from pump.errors import E_MALFORMED, E_RANGE, E_SCHEDULE, PumpError

DAY_MS = const(86400000)
HOUR_MS = const(3600000)
MINUTE_MS = const(60000)
# Largest small int on the boards (31-bit): values meant for the hot path must not exceed it.
MAX_SMALL_INT = const(0x3FFFFFFF)

_INF = float("inf")
_HALF = 0.5


def json_text(x):
    """A value as its JSON file spells it, for refusals: 1.5, NaN, Infinity, true, null, "text", a list, an object."""
    t = type(x)
    if t is bool:
        return "true" if x else "false"
    if x is None:
        return "null"
    if t is float and not _finite(x):
        return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")  # noqa: PLR0124 - NaN only
    if t is str:
        return '"%s"' % (x if len(x) <= 32 else x[:32] + "...")
    if t is list:
        return "a list"
    if t is dict:
        return "an object"
    return repr(x)


def _finite(x):
    return x == x and x != _INF and x != -_INF  # noqa: PLR0124 - NaN is the one value unequal to itself


def whole(x):
    """An int, or a float with an integral value, as int; None for anything else (a fraction, NaN, inf, a bool)."""
    t = type(x)
    if t is int:
        return x
    if t is float and _finite(x):
        i = int(x)
        if i == x:
            return i
    return None


def as_int(x, key="value", what="an integer"):
    """whole(x), or PumpError naming `key` (file and key path), what it must be and what it is: "config.json:
    pump.nl_per_step: must be an integer, got 1.5". NaN and inf are E_RANGE, every other refusal E_MALFORMED."""
    i = whole(x)
    if i is None:
        code = E_RANGE if type(x) is float and not _finite(x) else E_MALFORMED
        raise PumpError(code, "%s: must be %s, got %s" % (key, what, json_text(x)))
    return i


def as_number(x, key="value"):
    """An int or a finite float (not a bool), else PumpError naming `key`, as as_int."""
    t = type(x)
    if t is int or (t is float and _finite(x)):
        return x
    raise PumpError(E_RANGE if t is float else E_MALFORMED, "%s: must be a finite number, got %s" % (key, json_text(x)))


def _milli(x, key):
    # x * 1000 as an int: exact for ints; for floats the fractional part is scaled on its own (so a single-precision
    # float keeps what precision it has) and rounded half to even.
    x = as_number(x, key)
    if type(x) is int:
        if x < 0:
            raise PumpError(E_RANGE, "%s: negative" % key)
        return x * 1000
    if x < 0:
        raise PumpError(E_RANGE, "%s: negative" % key)
    whole = int(x)
    frac = (x - whole) * 1000
    k = int(frac)
    rest = frac - k
    if rest > _HALF or (rest == _HALF and k & 1):  # round half to even
        k += 1
    return whole * 1000 + k


def ug_to_ng(x, key="value"):
    """µg (int, or float rounded to the nearest ng, ties to even) -> int ng. Negative, NaN, inf: E_RANGE."""
    return _milli(x, key)


def ul_to_nl(x, key="value"):
    """µL (int, or float rounded to the nearest nL, ties to even) -> int nL. Negative, NaN, inf: E_RANGE."""
    return _milli(x, key)


def min_to_ms(minutes, key="value"):
    """Whole minutes (int or integral float) -> int ms. Negative: E_RANGE; a fraction of a minute: E_MALFORMED."""
    m = as_int(minutes, key)
    if m < 0:
        raise PumpError(E_RANGE, "%s: negative" % key)
    return m * MINUTE_MS


def ms_to_min(ms):
    """ms -> whole minutes (floor)."""
    return ms // MINUTE_MS


def _digit(c):
    return "0" <= c <= "9"


def parse_hhmm(text, key="time"):
    """'HH:MM' (exactly two digits each, 00:00..23:59; '24:00' is refused) -> ms since midnight."""
    if type(text) is not str:
        raise PumpError(E_MALFORMED, "%s: must be a string HH:MM" % key)
    ok = len(text) == 5 and text[2] == ":"
    if not (ok and _digit(text[0]) and _digit(text[1]) and _digit(text[3]) and _digit(text[4])):
        raise PumpError(E_SCHEDULE, "%s: %r is not HH:MM" % (key, text))
    h = int(text[0:2])
    m = int(text[3:5])
    if h > 23 or m > 59:
        raise PumpError(E_SCHEDULE, "%s: %s is not a time of day" % (key, text))
    return h * HOUR_MS + m * MINUTE_MS


def format_hhmm(ms_of_day):
    """ms since midnight -> 'HH:MM' (seconds dropped)."""
    m = ms_of_day // MINUTE_MS
    return "%02d:%02d" % (m // 60, m % 60)


def ng_to_ug(ng):
    """int ng -> µg as an int when whole, else a float (for JSON documents; exact for whole µg)."""
    if ng % 1000 == 0:
        return ng // 1000
    return ng / 1000


def format_ug(ng):
    """int ng -> decimal µg text without float rounding, e.g. 1500 -> '1.5', 5000000 -> '5000'."""
    sign = "-" if ng < 0 else ""
    ng = -ng if ng < 0 else ng
    whole = ng // 1000
    frac = ng % 1000
    if frac == 0:
        return "%s%d" % (sign, whole)
    text = "%03d" % frac
    while text[-1] == "0":
        text = text[:-1]
    return "%s%d.%s" % (sign, whole, text)


def gcd(a, b):
    """Greatest common divisor of two non-negative ints."""
    while b:
        a, b = b, a % b
    return a


def volume_nl_per_day(dose_ng_per_day, conc_ug_per_ml):
    """Volume rate for a dose rate at a concentration, as an exact reduced fraction (num, den) of nL/day.

    dose ng/day ÷ conc µg/mL = dose/conc µL/day = dose*1000/conc nL/day. `num` may exceed the boards' small-int
    range: this is for validation and planning at programming time, not for the step path. The floor in whole nL/day
    is num // den; the pair compares exactly against a bound B as num <= B * den.
    """
    if conc_ug_per_ml <= 0:
        raise PumpError(E_RANGE, "concentration must be > 0")
    num = dose_ng_per_day * 1000
    den = conc_ug_per_ml
    g = gcd(num, den)
    return num // g, den // g
