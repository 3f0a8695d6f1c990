"""Unit conversions: exact integers, refusals of NaN/inf/negative/wrong types, HH:MM parsing, volume rate fraction."""

from support import raises

from pump.errors import E_MALFORMED, E_RANGE, E_SCHEDULE, PumpError
from pump.units import (
    DAY_MS,
    MAX_SMALL_INT,
    as_int,
    format_hhmm,
    format_ug,
    gcd,
    min_to_ms,
    ms_to_min,
    ng_to_ug,
    parse_hhmm,
    ug_to_ng,
    ul_to_nl,
    volume_nl_per_day,
)

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _code(fn, *args):
    with raises(PumpError) as e:
        fn(*args)
    return e.value.code


def test_ug_to_ng_ints_exact():
    assert ug_to_ng(0) == 0
    assert ug_to_ng(5000) == 5000000
    assert type(ug_to_ng(5000)) is int
    assert ug_to_ng(10**12) == 10**15  # no float on the way


def test_ug_to_ng_floats_round_to_nearest_ng():
    assert ug_to_ng(0.5) == 500
    assert ug_to_ng(0.001) == 1
    assert ug_to_ng(4500.5) == 4500500
    assert ug_to_ng(19.2) == 19200
    assert ug_to_ng(0.1 + 0.2) == 300  # 0.30000000000000004
    assert ug_to_ng(1073741.823) == MAX_SMALL_INT
    assert ug_to_ng(5000.0) == 5000000
    assert type(ug_to_ng(0.5)) is int


def test_ug_to_ng_float_ties_go_to_even():
    # 0.0625 and 0.1875 are exact binary fractions: 62.5 ng and 187.5 ng are true ties.
    assert ug_to_ng(0.0625) == 62
    assert ug_to_ng(0.1875) == 188
    assert ug_to_ng(0.0626) == 63


def test_ug_to_ng_refuses_negative_nan_inf():
    assert _code(ug_to_ng, -1) == E_RANGE
    assert _code(ug_to_ng, -0.5) == E_RANGE
    assert _code(ug_to_ng, float("nan")) == E_RANGE
    assert _code(ug_to_ng, float("inf")) == E_RANGE
    assert _code(ug_to_ng, float("-inf")) == E_RANGE


def test_ug_to_ng_refuses_non_numbers():
    for bad in ("5", None, True, False, [1], {"a": 1}):
        assert _code(ug_to_ng, bad) == E_MALFORMED


def test_conversion_errors_name_the_key():
    with raises(PumpError) as e:
        ug_to_ng(-1, "patient_bolus.dose_ug")
    assert e.value.detail.split(":")[0] == "patient_bolus.dose_ug"
    with raises(PumpError) as e:
        min_to_ms("x", "patient_bolus.lockout_min")
    assert e.value.detail.split(":")[0] == "patient_bolus.lockout_min"


def test_ul_to_nl():
    assert ul_to_nl(1) == 1000
    assert ul_to_nl(2.5) == 2500
    assert ul_to_nl(0.0004) == 0
    assert _code(ul_to_nl, -3) == E_RANGE
    assert _code(ul_to_nl, "1") == E_MALFORMED


def test_as_int():
    assert as_int(7) == 7
    assert as_int(7.0) == 7 and type(as_int(7.0)) is int
    assert _code(as_int, 7.5) == E_MALFORMED
    assert _code(as_int, True) == E_MALFORMED
    assert _code(as_int, "7") == E_MALFORMED
    assert _code(as_int, float("nan")) == E_RANGE
    assert _code(as_int, float("inf")) == E_RANGE


def test_min_to_ms():
    assert min_to_ms(0) == 0
    assert min_to_ms(10) == 600000
    assert min_to_ms(10.0) == 600000
    assert min_to_ms(1440) == DAY_MS
    assert _code(min_to_ms, -1) == E_RANGE
    assert _code(min_to_ms, 1.5) == E_MALFORMED
    assert _code(min_to_ms, True) == E_MALFORMED
    assert ms_to_min(600000) == 10
    assert ms_to_min(659999) == 10


def test_parse_hhmm_accepts_the_day():
    assert parse_hhmm("00:00") == 0
    assert parse_hhmm("08:30") == 8 * 3600000 + 30 * 60000
    assert parse_hhmm("23:59") == DAY_MS - 60000


def test_parse_hhmm_refuses_bad_text():
    for bad in (
        "24:00",
        "12:60",
        "8:30",
        "08:3",
        "08:30:00",
        "0830",
        "08.30",
        "ab:cd",
        "",
        " 8:30",
        "-1:00",
        "\uff10\uff18:30",
    ):
        assert _code(parse_hhmm, bad) == E_SCHEDULE, bad


def test_parse_hhmm_refuses_non_strings():
    for bad in (830, None, 8.5, ["08:30"]):
        assert _code(parse_hhmm, bad) == E_MALFORMED


def test_parse_hhmm_names_key():
    with raises(PumpError) as e:
        parse_hhmm("25:00", "therapy.steps[2].start")
    assert e.value.detail.split(":")[0] == "therapy.steps[2].start"


def test_format_hhmm_round_trips_every_minute():
    for m in range(1440):
        text = format_hhmm(m * 60000)
        assert len(text) == 5
        assert parse_hhmm(text) == m * 60000


def test_ng_to_ug_and_format_ug():
    assert ng_to_ug(5000000) == 5000 and type(ng_to_ug(5000000)) is int
    assert ng_to_ug(1500) == 1.5
    assert ug_to_ng(ng_to_ug(1)) == 1
    assert ug_to_ng(ng_to_ug(MAX_SMALL_INT)) == MAX_SMALL_INT
    assert format_ug(0) == "0"
    assert format_ug(1) == "0.001"
    assert format_ug(1500) == "1.5"
    assert format_ug(5000000) == "5000"
    assert format_ug(5333334) == "5333.334"
    assert format_ug(-1500) == "-1.5"


def test_volume_nl_per_day_is_an_exact_reduced_fraction():
    # 5000 ug/day of 10000 ug/mL = 0.5 mL/day.
    assert volume_nl_per_day(5000000, 10000) == (500000, 1)
    # 1 ng/day of 3 ug/mL = 1000/3 nL/day, kept exact.
    assert volume_nl_per_day(1, 3) == (1000, 3)
    assert volume_nl_per_day(2, 4000) == (1, 2)
    assert volume_nl_per_day(0, 7) == (0, 1)
    num, den = volume_nl_per_day(MAX_SMALL_INT, 1)
    assert num == MAX_SMALL_INT * 1000 and den == 1
    assert _code(volume_nl_per_day, 1000, 0) == E_RANGE


def test_gcd():
    assert gcd(12, 18) == 6
    assert gcd(0, 5) == 5
    assert gcd(7, 0) == 7
