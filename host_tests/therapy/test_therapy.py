"""Prescription parsing: every rule refuses with its code and key path, input untouched; Therapy queries; round trip."""

import json

from support import raises

from pump.errors import (
    E_HARD_LIMIT,
    E_MALFORMED,
    E_RANGE,
    E_SCHEDULE,
    E_SOFT_LIMIT,
    E_UNKNOWN_DRUG,
    PumpError,
)
from pump.prescription import parse_prescription
from pump.therapy import ALL_DAYS, MODE_CONSTANT, MODE_FLEX, MODE_STOPPED, PatientBolus, Therapy
from support.druglib import LIB

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

NL_PER_STEP = 250


def _copy(x):
    if type(x) is dict:
        return {k: _copy(v) for k, v in x.items()}
    if type(x) is list:
        return [_copy(v) for v in x]
    return x


def _same(a, b):
    # Deep equality where a NaN equals itself (MicroPython compares containers without an identity shortcut).
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return len(a) == len(b) and all(k in b and _same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b or a == b


def _steps(*pairs):
    return [{"start": s, "dose_ug_per_day": d} for s, d in pairs]


def _doc(drug="tight", conc=10000, therapy=None, **extra):
    doc = {"drug": {"name": drug, "concentration_ug_per_ml": conc}}
    doc["therapy"] = therapy if therapy is not None else {"mode": "constant", "dose_ug_per_day": 5000}
    for k in extra:
        doc[k] = extra[k]
    return doc


def _flex(*pairs, **extra):
    th = {"mode": "flex", "steps": _steps(*pairs)}
    for k in extra:
        th[k] = extra[k]
    return th


def _pb(dose=100, duration=10, lockout=120, n=4):
    return {"dose_ug": dose, "duration_min": duration, "lockout_min": lockout, "max_per_day": n}


def _parse(doc, nl=NL_PER_STEP, confirm=False):
    return parse_prescription(doc, LIB, nl, confirm)


def _rejects(doc, code, key, nl=NL_PER_STEP, confirm=False, library=LIB):
    before = _copy(doc)
    with raises(PumpError) as e:
        parse_prescription(doc, library, nl, confirm)
    assert e.value.code == code, str(e.value)
    assert e.value.detail.split(":")[0] == key, str(e.value)
    assert _same(doc, before)  # nothing mutated on the way out
    return e.value


# ---- accepted shapes ----


def test_constant():
    t = _parse(_doc())
    assert isinstance(t, Therapy)
    assert t.drug == "tight" and t.conc_ug_per_ml == 10000
    assert t.mode == MODE_CONSTANT
    assert t.daily == ((0, 5000000),)
    assert t.weekly is None and t.patient_bolus is None and t.periodic_boluses == ()
    assert t.soft_confirmed is False
    assert t.dose_ng_per_day_at(3, 12 * 3600000) == 5000000
    assert t.max_daily_ng() == 5000000


def test_stopped():
    t = _parse(_doc(therapy={"mode": "stopped"}))
    assert t.mode == MODE_STOPPED and t.daily == () and t.weekly is None
    assert t.dose_ng_per_day_at(0, 0) == 0
    assert t.max_daily_ng() == 0


def test_flex_schedule_and_lookup():
    t = _parse(_doc(therapy=_flex(("00:00", 4000), ("08:00", 6000), ("20:30", 0))))
    assert t.mode == MODE_FLEX
    assert t.daily == ((0, 4000000), (8 * 3600000, 6000000), (20 * 3600000 + 1800000, 0))
    assert t.dose_ng_per_day_at(0, 8 * 3600000 - 1) == 4000000
    assert t.dose_ng_per_day_at(0, 8 * 3600000) == 6000000
    assert t.dose_ng_per_day_at(6, 86400000 - 1) == 0
    # 8 h at 4000 + 12.5 h at 6000 + 3.5 h at 0 = 1333.333.. + 3125 ug, rounded up to a whole ng.
    assert t.max_daily_ng() == 4458334


def test_drug_name_is_case_insensitive_and_canonical():
    assert _parse(_doc(drug="Tight")).drug == "tight"


def test_float_doses_become_whole_ng():
    t = _parse(_doc(drug="wide", conc=100, therapy={"mode": "constant", "dose_ug_per_day": 2.5}))
    assert t.daily == ((0, 2500),)
    assert type(t.daily[0][1]) is int


def test_integral_float_concentration_is_accepted():
    t = _parse(_doc(conc=10000.0))
    assert t.conc_ug_per_ml == 10000 and type(t.conc_ug_per_ml) is int


def test_weekly_overrides():
    sat = _steps(("00:00", 3000))
    sun = _steps(("00:00", 2000), ("12:00", 3000))
    t = _parse(_doc(therapy=_flex(("00:00", 4000), ("08:00", 6000), weekly={"sat": sat, "sun": sun})))
    assert len(t.weekly) == 7
    for d in range(5):
        assert t.schedule_for(d) == t.daily
    assert t.schedule_for(5) == ((0, 3000000),)
    assert t.schedule_for(6) == ((0, 2000000), (12 * 3600000, 3000000))
    assert t.dose_ng_per_day_at(5, 9 * 3600000) == 3000000
    assert t.dose_ng_per_day_at(4, 9 * 3600000) == 6000000
    assert t.max_daily_ng() == 5333334


def test_weekly_equal_to_steps_or_empty_is_none():
    base = (("00:00", 4000), ("08:00", 6000))
    assert _parse(_doc(therapy=_flex(*base, weekly={"mon": _steps(*base)}))).weekly is None
    assert _parse(_doc(therapy=_flex(*base, weekly={}))).weekly is None


def test_patient_bolus():
    t = _parse(_doc(patient_bolus=_pb(100, 10, 120, 4)))
    assert t.patient_bolus == PatientBolus(100000, 600000, 7200000, 4)
    assert t.max_daily_total_ng() == 5000000 + 4 * 100000


def test_periodic_boluses_sorted_with_masks():
    p = [
        {"start": "18:00", "dose_ug": 50, "duration_min": 30, "days": ["wed", "mon"]},
        {"start": "06:00", "dose_ug": 20, "duration_min": 15},
    ]
    t = _parse(_doc(periodic_boluses=p))
    assert t.periodic_boluses == ((6 * 3600000, 20000, 900000, ALL_DAYS), (18 * 3600000, 50000, 1800000, 0b101))
    # Monday has both, Tuesday only the daily one; max_daily_ng counts periodic boluses.
    assert t.daily_ng(0) == 5000000 + 20000 + 50000
    assert t.daily_ng(1) == 5000000 + 20000
    assert t.max_daily_ng() == 5070000


def test_schedule_queries_refuse_bad_arguments():
    t = _parse(_doc())
    with raises(PumpError) as e:
        t.schedule_for(7)
    assert e.value.code == E_RANGE
    with raises(PumpError) as e:
        t.dose_ng_per_day_at(0, 86400000)
    assert e.value.code == E_RANGE


def test_describe_is_one_line():
    t = _parse(
        _doc(
            therapy=_flex(("00:00", 4000), ("08:00", 6000)),
            patient_bolus=_pb(),
            periodic_boluses=[{"start": "12:00", "dose_ug": 50, "duration_min": 30}],
        )
    )
    text = t.describe()
    assert type(text) is str and "\n" not in text and len(text) < 160
    assert text.startswith("tight 10000 ug/mL flex")
    assert "5383.334 ug/day" in text and "PB 100 ug" in text


# ---- round trip ----


def _round_trip(doc, confirm=False):
    t = _parse(doc, confirm=confirm)
    back = json.loads(json.dumps(t.to_doc()))
    t2 = _parse(back)
    assert t2 == t
    assert t2.to_doc() == t.to_doc()
    return t, back


def test_to_doc_round_trips():
    _round_trip(_doc())
    _round_trip(_doc(therapy={"mode": "stopped"}))
    _round_trip(_doc(drug="wide", conc=333, therapy={"mode": "constant", "dose_ug_per_day": 12.345}))
    weekly = {"sat": _steps(("00:00", 3000.5)), "mon": _steps(("00:00", 4000), ("08:00", 6000), ("22:15", 0))}
    doc = _doc(
        therapy=_flex(("00:00", 4000), ("08:00", 6000), ("22:15", 0), weekly=weekly),
        patient_bolus=_pb(12.5, 5, 0, 0),
        periodic_boluses=[
            {"start": "23:30", "dose_ug": 50, "duration_min": 60, "days": ["sun", "tue"]},
            {"start": "00:30", "dose_ug": 25, "duration_min": 1},
        ],
    )
    t, back = _round_trip(doc)
    assert back["therapy"]["weekly"] == {"sat": [{"start": "00:00", "dose_ug_per_day": 3000.5}]}
    assert back["periodic_boluses"][1]["days"] == ["tue", "sun"]
    assert "days" not in back["periodic_boluses"][0]


def test_confirmed_soft_limit_survives_round_trip():
    t, back = _round_trip(_doc(conc=25000), confirm=True)
    assert t.soft_confirmed is True
    assert back["confirm_soft_limits"] is True
    # Without a broken soft limit the flag is not kept.
    t, back = _round_trip(_doc(confirm_soft_limits=True))
    assert t.soft_confirmed is False and "confirm_soft_limits" not in back


def test_therapies_compare_by_value():
    assert _parse(_doc()) == _parse(_doc())
    assert _parse(_doc()) != _parse(_doc(conc=10001))


# ---- structure ----


def test_not_a_dict():
    _rejects([], E_MALFORMED, "prescription")


def test_missing_and_unknown_top_keys():
    d = _doc()
    del d["drug"]
    _rejects(d, E_MALFORMED, "drug")
    d = _doc()
    del d["therapy"]
    _rejects(d, E_MALFORMED, "therapy")
    _rejects(_doc(patient_bolus_typo=_pb()), E_MALFORMED, "patient_bolus_typo")
    _rejects(_doc(therapy=[]), E_MALFORMED, "therapy")


def test_drug_fields():
    d = _doc()
    d["drug"] = "morphine"
    _rejects(d, E_MALFORMED, "drug")
    d = _doc()
    del d["drug"]["name"]
    _rejects(d, E_MALFORMED, "drug.name")
    d = _doc()
    d["drug"]["name"] = 7
    _rejects(d, E_MALFORMED, "drug.name")
    d = _doc()
    d["drug"]["form"] = "liquid"
    _rejects(d, E_MALFORMED, "drug.form")
    del d["drug"]["form"]
    del d["drug"]["concentration_ug_per_ml"]
    _rejects(d, E_MALFORMED, "drug.concentration_ug_per_ml")


def test_concentration_must_be_a_positive_whole_number():
    _rejects(_doc(conc=10000.5), E_MALFORMED, "drug.concentration_ug_per_ml")
    _rejects(_doc(conc="10000"), E_MALFORMED, "drug.concentration_ug_per_ml")
    _rejects(_doc(drug="wide", conc=0), E_RANGE, "drug.concentration_ug_per_ml")
    _rejects(_doc(drug="wide", conc=-5), E_RANGE, "drug.concentration_ug_per_ml")
    _rejects(_doc(drug="wide", conc=2**30), E_RANGE, "drug.concentration_ug_per_ml")


def test_unknown_mode():
    _rejects(_doc(therapy={"mode": "bolus"}), E_MALFORMED, "therapy.mode")
    _rejects(_doc(therapy={"mode": 1}), E_MALFORMED, "therapy.mode")
    _rejects(_doc(therapy={"dose_ug_per_day": 5}), E_MALFORMED, "therapy.mode")


def test_keys_of_each_mode():
    _rejects(_doc(therapy={"mode": "stopped", "dose_ug_per_day": 5}), E_MALFORMED, "therapy.dose_ug_per_day")
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": 5000, "steps": []}), E_MALFORMED, "therapy.steps")
    _rejects(_doc(therapy={"mode": "constant"}), E_MALFORMED, "therapy.dose_ug_per_day")
    _rejects(_doc(therapy={"mode": "flex"}), E_MALFORMED, "therapy.steps")
    _rejects(_doc(therapy=_flex(("00:00", 4000), dose_ug_per_day=5)), E_MALFORMED, "therapy.dose_ug_per_day")


def test_confirm_flag_must_be_bool():
    _rejects(_doc(confirm_soft_limits="yes"), E_MALFORMED, "confirm_soft_limits")


def test_nl_per_step_checked():
    _rejects(_doc(), E_RANGE, "nl_per_step", nl=0)
    _rejects(_doc(), E_RANGE, "nl_per_step", nl=2.5)
    _rejects(_doc(), E_RANGE, "nl_per_step", nl=True)


# ---- flex schedule ----


def test_flex_step_count():
    _rejects(_doc(therapy={"mode": "flex", "steps": []}), E_SCHEDULE, "therapy.steps")
    _rejects(_doc(therapy={"mode": "flex", "steps": {"00:00": 5}}), E_MALFORMED, "therapy.steps")
    sixteen = [("%02d:00" % h, 4000) for h in range(16)]
    assert len(_parse(_doc(therapy=_flex(*sixteen))).daily) == 16
    seventeen = [("%02d:00" % h, 4000) for h in range(17)]
    _rejects(_doc(therapy=_flex(*seventeen)), E_SCHEDULE, "therapy.steps")


def test_flex_first_step_at_midnight():
    _rejects(_doc(therapy=_flex(("00:01", 4000))), E_SCHEDULE, "therapy.steps[0].start")


def test_flex_starts_strictly_increase():
    _rejects(
        _doc(therapy=_flex(("00:00", 4000), ("08:00", 5000), ("08:00", 6000))), E_SCHEDULE, "therapy.steps[2].start"
    )
    _rejects(
        _doc(therapy=_flex(("00:00", 4000), ("08:00", 5000), ("07:59", 6000))), E_SCHEDULE, "therapy.steps[2].start"
    )


def test_flex_step_fields():
    _rejects(_doc(therapy=_flex(("00:00", 4000), ("24:00", 5000))), E_SCHEDULE, "therapy.steps[1].start")
    _rejects(_doc(therapy=_flex(("00:00", 4000), (480, 5000))), E_MALFORMED, "therapy.steps[1].start")
    _rejects(_doc(therapy=_flex(("00:00", 4000), ("08:00", -1))), E_RANGE, "therapy.steps[1].dose_ug_per_day")
    _rejects(_doc(therapy=_flex(("00:00", 4000), ("08:00", "5"))), E_MALFORMED, "therapy.steps[1].dose_ug_per_day")
    _rejects(
        _doc(therapy={"mode": "flex", "steps": [{"start": "00:00"}]}), E_MALFORMED, "therapy.steps[0].dose_ug_per_day"
    )
    _rejects(_doc(therapy={"mode": "flex", "steps": [5]}), E_MALFORMED, "therapy.steps[0]")
    step = {"start": "00:00", "dose_ug_per_day": 4000, "rate": 1}
    _rejects(_doc(therapy={"mode": "flex", "steps": [step]}), E_MALFORMED, "therapy.steps[0].rate")


def test_weekly_rules():
    base = (("00:00", 4000), ("08:00", 6000))
    _rejects(
        _doc(therapy=_flex(*base, weekly={"saturday": _steps(("00:00", 1))})), E_MALFORMED, "therapy.weekly.saturday"
    )
    _rejects(_doc(therapy=_flex(*base, weekly=[])), E_MALFORMED, "therapy.weekly")
    _rejects(
        _doc(therapy=_flex(*base, weekly={"sat": _steps(("01:00", 4000))})), E_SCHEDULE, "therapy.weekly.sat[0].start"
    )
    _rejects(_doc(therapy=_flex(*base, weekly={"sun": []})), E_SCHEDULE, "therapy.weekly.sun")
    _rejects(
        _doc(therapy=_flex(*base, weekly={"sun": _steps(("00:00", 4000), ("06:00", 1e9))})),
        E_RANGE,
        "therapy.weekly.sun[1].dose_ug_per_day",
    )


# ---- volume rate range and integer bounds ----


def test_zero_rates_are_allowed():
    t = _parse(_doc(drug="wide", conc=100, therapy={"mode": "constant", "dose_ug_per_day": 0}))
    assert t.daily == ((0, 0),)
    t = _parse(_doc(therapy=_flex(("00:00", 0), ("08:00", 6000))))
    assert t.daily[0] == (0, 0)


def test_rate_rangebounds():
    # At 100 ug/mL: 1 ug/day = 10 uL/day (the lowest rate), 5000 ug/day = 50 mL/day (the highest).
    for dose in (1, 5000):
        _parse(_doc(drug="wide", conc=100, therapy={"mode": "constant", "dose_ug_per_day": dose}))
    _rejects(
        _doc(drug="wide", conc=100, therapy={"mode": "constant", "dose_ug_per_day": 0.999}),
        E_RANGE,
        "therapy.dose_ug_per_day",
    )
    _rejects(
        _doc(drug="wide", conc=100, therapy={"mode": "constant", "dose_ug_per_day": 5000.001}),
        E_RANGE,
        "therapy.dose_ug_per_day",
    )
    _rejects(
        _doc(drug="wide", conc=100, therapy=_flex(("00:00", 1), ("08:00", 6000))),
        E_RANGE,
        "therapy.steps[1].dose_ug_per_day",
    )


def test_rate_needs_a_step_a_day():
    # 2 ug/day at 100 ug/mL is 20 uL/day: fine with 250 nL steps, under one step a day with 25 uL steps.
    doc = _doc(drug="wide", conc=100, therapy={"mode": "constant", "dose_ug_per_day": 2})
    _parse(doc)
    _parse(doc, nl=20000)
    _rejects(doc, E_RANGE, "therapy.dose_ug_per_day", nl=25000)


_BIG = {"mode": "constant", "dose_ug_per_day": 100000}  # 0.1 mL/day at 1 g/mL


def test_doses_stay_small_ints():
    # 1073741.823 ug = 2**30 - 1 ng is the largest; at 100000 ug/mL it is a legal volume rate.
    t = _parse(_doc(drug="wide", conc=100000, therapy={"mode": "constant", "dose_ug_per_day": 1073741.823}))
    assert t.daily[0][1] == 2**30 - 1
    _rejects(
        _doc(drug="wide", conc=100000, therapy={"mode": "constant", "dose_ug_per_day": 1073741.824}),
        E_RANGE,
        "therapy.dose_ug_per_day",
    )
    _rejects(
        _doc(drug="wide", conc=1000000, therapy=_BIG, patient_bolus=_pb(dose=1073742, duration=1440)),
        E_RANGE,
        "patient_bolus.dose_ug",
    )
    _rejects(
        _doc(drug="wide", conc=1000000, therapy={"mode": "constant", "dose_ug_per_day": 10**12}),
        E_RANGE,
        "therapy.dose_ug_per_day",
    )


def test_non_finite_doses():
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": float("nan")}), E_RANGE, "therapy.dose_ug_per_day")
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": float("inf")}), E_RANGE, "therapy.dose_ug_per_day")
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": True}), E_MALFORMED, "therapy.dose_ug_per_day")


# ---- patient bolus ----


def _wide_pb(**kw):
    # 2 ug at 100 ug/mL = 20 uL: a legal rate over 1 min (28.8 mL/day) and over 24 h (20 uL/day).
    args = {"dose": 2, "duration": 10, "lockout": 60, "n": 4}
    for k in kw:
        args[k] = kw[k]
    return _doc(drug="wide", conc=100, patient_bolus=_pb(args["dose"], args["duration"], args["lockout"], args["n"]))


def test_patient_bolus_duration_range():
    assert _parse(_wide_pb(duration=1)).patient_bolus.duration_ms == 60000
    assert _parse(_wide_pb(duration=1440)).patient_bolus.duration_ms == 86400000
    _rejects(_wide_pb(duration=0), E_RANGE, "patient_bolus.duration_min")
    _rejects(_wide_pb(duration=1441), E_RANGE, "patient_bolus.duration_min")
    _rejects(_wide_pb(duration=-10), E_RANGE, "patient_bolus.duration_min")
    _rejects(_wide_pb(duration=2.5), E_MALFORMED, "patient_bolus.duration_min")


def test_patient_bolus_lockout_range():
    assert _parse(_wide_pb(lockout=0)).patient_bolus.lockout_ms == 0
    assert _parse(_wide_pb(lockout=1440)).patient_bolus.lockout_ms == 86400000
    _rejects(_wide_pb(lockout=1441), E_RANGE, "patient_bolus.lockout_min")
    _rejects(_wide_pb(lockout=-1), E_RANGE, "patient_bolus.lockout_min")


def test_patient_bolus_max_per_day_range():
    assert _parse(_wide_pb(n=0)).patient_bolus.max_per_day == 0
    assert _parse(_wide_pb(n=48)).patient_bolus.max_per_day == 48
    _rejects(_wide_pb(n=49), E_RANGE, "patient_bolus.max_per_day")
    _rejects(_wide_pb(n=-1), E_RANGE, "patient_bolus.max_per_day")
    _rejects(_wide_pb(n=2.5), E_MALFORMED, "patient_bolus.max_per_day")


def test_patient_bolus_at_least_one_step():
    # 0.025 ug at 100 ug/mL = 250 nL = one step.
    assert _parse(_wide_pb(dose=0.025, duration=1)).patient_bolus.dose_ng == 25
    _rejects(_wide_pb(dose=0.024, duration=1), E_RANGE, "patient_bolus.dose_ug")
    _rejects(_wide_pb(dose=0), E_RANGE, "patient_bolus.dose_ug")
    _rejects(_wide_pb(dose=-1), E_RANGE, "patient_bolus.dose_ug")


def test_patient_bolus_rate_range():
    # 3.5 ug = 35 uL over 1 min is 50.4 mL/day: too fast. 0.5 ug = 5 uL over 24 h is 5 uL/day: too slow.
    _rejects(_wide_pb(dose=3.5, duration=1), E_RANGE, "patient_bolus.duration_min")
    _parse(_wide_pb(dose=3.5, duration=2))
    _rejects(_wide_pb(dose=0.5, duration=1440), E_RANGE, "patient_bolus.duration_min")
    _parse(_wide_pb(dose=0.5, duration=720))


def test_patient_bolus_fields():
    d = _wide_pb()
    del d["patient_bolus"]["max_per_day"]
    _rejects(d, E_MALFORMED, "patient_bolus.max_per_day")
    d = _wide_pb()
    d["patient_bolus"]["lockout_h"] = 2
    _rejects(d, E_MALFORMED, "patient_bolus.lockout_h")
    _rejects(_doc(patient_bolus=[1]), E_MALFORMED, "patient_bolus")
    assert _parse(_doc(patient_bolus=None)).patient_bolus is None


def test_no_boluses_when_stopped():
    _rejects(_doc(therapy={"mode": "stopped"}, patient_bolus=_pb()), E_MALFORMED, "patient_bolus")
    _rejects(
        _doc(therapy={"mode": "stopped"}, periodic_boluses=[{"start": "12:00", "dose_ug": 50, "duration_min": 30}]),
        E_MALFORMED,
        "periodic_boluses",
    )


# ---- periodic boluses ----


def _periodic(start, dose=50, duration=30, days=None):
    p = {"start": start, "dose_ug": dose, "duration_min": duration}
    if days is not None:
        p["days"] = days
    return p


def test_periodic_count():
    eight = [_periodic("%02d:00" % (h * 3)) for h in range(8)]
    assert len(_parse(_doc(drug="wide", periodic_boluses=eight)).periodic_boluses) == 8
    nine = [_periodic("%02d:00" % (h * 2)) for h in range(9)]
    _rejects(_doc(drug="wide", periodic_boluses=nine), E_SCHEDULE, "periodic_boluses")
    _rejects(_doc(periodic_boluses={"a": 1}), E_MALFORMED, "periodic_boluses")
    assert _parse(_doc(periodic_boluses=[])).periodic_boluses == ()


def test_periodic_fields():
    _rejects(_doc(periodic_boluses=[_periodic("12:00"), _periodic("25:00")]), E_SCHEDULE, "periodic_boluses[1].start")
    _rejects(_doc(periodic_boluses=[_periodic("12:00", duration=0)]), E_RANGE, "periodic_boluses[0].duration_min")
    _rejects(_doc(periodic_boluses=[_periodic("12:00", duration=1441)]), E_RANGE, "periodic_boluses[0].duration_min")
    _rejects(_doc(periodic_boluses=[_periodic("12:00", dose=0.001)]), E_RANGE, "periodic_boluses[0].dose_ug")
    _rejects(
        _doc(
            drug="wide", conc=1000000, therapy=_BIG, periodic_boluses=[_periodic("12:00", dose=1073742, duration=1440)]
        ),
        E_RANGE,
        "periodic_boluses[0].dose_ug",
    )
    _rejects(
        _doc(periodic_boluses=[_periodic("12:00", dose=400, duration=1)]), E_RANGE, "periodic_boluses[0].duration_min"
    )
    p = _periodic("12:00")
    p["every"] = 2
    _rejects(_doc(periodic_boluses=[p]), E_MALFORMED, "periodic_boluses[0].every")
    _rejects(_doc(periodic_boluses=["12:00"]), E_MALFORMED, "periodic_boluses[0]")
    p = _periodic("12:00")
    del p["dose_ug"]
    _rejects(_doc(periodic_boluses=[p]), E_MALFORMED, "periodic_boluses[0].dose_ug")


def test_periodic_days():
    assert _parse(_doc(periodic_boluses=[_periodic("12:00", days=["sun"])])).periodic_boluses[0][3] == 0b1000000
    assert _parse(_doc(periodic_boluses=[_periodic("12:00")])).periodic_boluses[0][3] == ALL_DAYS
    _rejects(
        _doc(periodic_boluses=[_periodic("12:00", days=["mon", "funday"])]), E_MALFORMED, "periodic_boluses[0].days[1]"
    )
    _rejects(
        _doc(periodic_boluses=[_periodic("12:00", days=["mon", "mon"])]), E_MALFORMED, "periodic_boluses[0].days[1]"
    )
    _rejects(_doc(periodic_boluses=[_periodic("12:00", days=[])]), E_MALFORMED, "periodic_boluses[0].days")
    _rejects(_doc(periodic_boluses=[_periodic("12:00", days="mon")]), E_MALFORMED, "periodic_boluses[0].days")


def test_periodic_boluses_never_overlap():
    # Same day, second starts before the first ends.
    _rejects(
        _doc(periodic_boluses=[_periodic("12:00", duration=30), _periodic("12:29")]),
        E_SCHEDULE,
        "periodic_boluses[1].start",
    )
    # Back to back is fine.
    _parse(_doc(periodic_boluses=[_periodic("12:00", duration=30), _periodic("12:30")]))
    # Same time on different days is fine.
    _parse(_doc(periodic_boluses=[_periodic("12:00", days=["mon"]), _periodic("12:00", days=["tue"])]))
    # Across midnight into the next day.
    _rejects(
        _doc(periodic_boluses=[_periodic("00:30", days=["tue"]), _periodic("23:30", duration=90, days=["mon"])]),
        E_SCHEDULE,
        "periodic_boluses[1].start",
    )
    # From Sunday night into Monday morning.
    _rejects(
        _doc(periodic_boluses=[_periodic("00:30", days=["mon"]), _periodic("23:30", duration=90, days=["sun"])]),
        E_SCHEDULE,
        "periodic_boluses[1].start",
    )
    _parse(_doc(periodic_boluses=[_periodic("00:30", days=["mon"]), _periodic("23:30", duration=60, days=["sun"])]))


# ---- drug library ----


def test_unknown_drug_and_missing_library():
    _rejects(_doc(drug="aspirin"), E_UNKNOWN_DRUG, "drug.name")
    _rejects(_doc(), E_UNKNOWN_DRUG, "drug.name", library=None)


def test_concentration_limits():
    _rejects(
        _doc(conc=99, therapy={"mode": "constant", "dose_ug_per_day": 500}),
        E_HARD_LIMIT,
        "drug.concentration_ug_per_ml",
    )
    _rejects(_doc(conc=30001), E_HARD_LIMIT, "drug.concentration_ug_per_ml", confirm=True)
    _rejects(_doc(conc=25000), E_SOFT_LIMIT, "drug.concentration_ug_per_ml")
    assert _parse(_doc(conc=25000), confirm=True).soft_confirmed is True
    assert _parse(_doc(conc=25000, confirm_soft_limits=True)).soft_confirmed is True
    _rejects(_doc(conc=25000, confirm_soft_limits=False), E_SOFT_LIMIT, "drug.concentration_ug_per_ml")


def test_daily_dose_limits_constant():
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": 20001}), E_HARD_LIMIT, "therapy.dose_ug_per_day")
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": 12000}), E_SOFT_LIMIT, "therapy.dose_ug_per_day")
    _parse(_doc(therapy={"mode": "constant", "dose_ug_per_day": 12000}), confirm=True)
    # Below the minimum, including a zero rate: stopping is what "stopped" is for.
    _rejects(
        _doc(conc=500, therapy={"mode": "constant", "dose_ug_per_day": 9}), E_HARD_LIMIT, "therapy.dose_ug_per_day"
    )
    _rejects(
        _doc(conc=500, therapy={"mode": "constant", "dose_ug_per_day": 50}), E_SOFT_LIMIT, "therapy.dose_ug_per_day"
    )
    _rejects(_doc(therapy={"mode": "constant", "dose_ug_per_day": 0}), E_HARD_LIMIT, "therapy.dose_ug_per_day")


def test_flex_step_rate_limited_even_when_the_day_total_is_not():
    # 2 h at 30000 ug/day is only 2500 ug that day, yet the rate itself is over the hard maximum.
    e = _rejects(
        _doc(therapy=_flex(("00:00", 0), ("10:00", 30000), ("12:00", 0))),
        E_HARD_LIMIT,
        "therapy.steps[1].dose_ug_per_day",
    )
    assert "step rate" in e.detail
    e = _rejects(
        _doc(therapy=_flex(("00:00", 0), ("10:00", 12000), ("12:00", 0))),
        E_SOFT_LIMIT,
        "therapy.steps[1].dose_ug_per_day",
    )
    assert (
        _parse(_doc(therapy=_flex(("00:00", 0), ("10:00", 12000), ("12:00", 0))), confirm=True).max_daily_ng()
        == 1000000
    )


def test_flex_daily_total_is_integrated_and_weekday_max():
    # Eight steps of 9000 ug/day integrate to 9000 ug a day (not 8 x 9000): within the soft maximum 10000.
    t = _parse(_doc(therapy=_flex(*[("%02d:00" % (3 * h), 9000) for h in range(8)])))
    assert t.max_daily_ng() == 9000000
    # Saturday at 9000 ug/day plus eight 500 ug periodic boluses that day is 13000 ug: over the soft daily maximum
    # although every rate and every bolus keeps to its own limits. The key names Saturday's schedule.
    sat = _steps(("00:00", 9000))
    boluses = [_periodic("%02d:00" % (3 * h), dose=500, duration=60, days=["sat"]) for h in range(8)]
    doc = _doc(therapy=_flex(("00:00", 4000), weekly={"sat": sat}), periodic_boluses=boluses)
    e = _rejects(doc, E_SOFT_LIMIT, "therapy.weekly.sat")
    assert "daily total" in e.detail
    t = _parse(doc, confirm=True)
    assert t.daily_ng(5) == 13000000 and t.daily_ng(4) == 4000000 and t.max_daily_ng() == 13000000
    # The same boluses on Friday leave every day at or under 9000 ug.
    boluses = [_periodic("%02d:00" % (3 * h), dose=500, duration=60, days=["fri"]) for h in range(8)]
    t = _parse(_doc(therapy=_flex(("00:00", 4000), weekly={"sat": sat}), periodic_boluses=boluses))
    assert t.daily_ng(4) == 8000000 and t.max_daily_ng() == 9000000
    # Over the hard daily maximum (19000 + 3 x 500): confirming soft limits does not help.
    sat = _steps(("00:00", 19000))
    boluses = [_periodic("%02d:00" % (3 * h), dose=500, duration=60, days=["sat"]) for h in range(3)]
    _parse(_doc(therapy=_flex(("00:00", 4000), weekly={"sat": sat})), confirm=True)
    _rejects(
        _doc(therapy=_flex(("00:00", 4000), weekly={"sat": sat}), periodic_boluses=boluses),
        E_HARD_LIMIT,
        "therapy.weekly.sat",
        confirm=True,
    )


def test_patient_boluses_count_in_the_daily_maximum():
    # 9000 ug/day + 2 x 500 ug = 10000: within the soft max; 3 x 500 goes over it, 23 x 500 over the hard max.
    doc = _doc(therapy={"mode": "constant", "dose_ug_per_day": 9000}, patient_bolus=_pb(500, 10, 30, 2))
    _parse(doc)
    doc["patient_bolus"]["max_per_day"] = 3
    e = _rejects(doc, E_SOFT_LIMIT, "therapy.dose_ug_per_day")
    assert "patient boluses" in e.detail
    doc["patient_bolus"]["max_per_day"] = 23
    _rejects(doc, E_HARD_LIMIT, "therapy.dose_ug_per_day", confirm=True)


def test_daily_minimum_uses_the_lowest_day():
    # Sunday delivers 50 ug (under the soft minimum 100) while the other days are fine.
    sun = _steps(("00:00", 50))
    _rejects(_doc(conc=500, therapy=_flex(("00:00", 4000), weekly={"sun": sun})), E_SOFT_LIMIT, "therapy.weekly.sun")
    sun = _steps(("00:00", 0), ("12:00", 10))  # 5 ug that day: under the hard minimum 10
    _rejects(_doc(conc=500, therapy=_flex(("00:00", 4000), weekly={"sun": sun})), E_HARD_LIMIT, "therapy.weekly.sun")


def test_bolus_dose_limits():
    _rejects(_doc(patient_bolus=_pb(dose=1001, duration=60)), E_HARD_LIMIT, "patient_bolus.dose_ug")
    _rejects(_doc(patient_bolus=_pb(dose=600, duration=60, n=1)), E_SOFT_LIMIT, "patient_bolus.dose_ug")
    _rejects(_doc(patient_bolus=_pb(dose=5, duration=1)), E_SOFT_LIMIT, "patient_bolus.dose_ug")
    _rejects(_doc(conc=500, patient_bolus=_pb(dose=0.5, duration=1)), E_HARD_LIMIT, "patient_bolus.dose_ug")
    _rejects(
        _doc(periodic_boluses=[_periodic("01:00"), _periodic("12:00", dose=1001, duration=60)]),
        E_HARD_LIMIT,
        "periodic_boluses[1].dose_ug",
    )


def test_hard_limit_reported_before_soft():
    # A soft concentration problem first in order, a hard bolus problem later: the hard one decides.
    _rejects(
        _doc(conc=25000, patient_bolus=_pb(dose=1001, duration=60)),
        E_HARD_LIMIT,
        "patient_bolus.dose_ug",
        confirm=False,
    )


def test_stopped_still_checks_the_drug():
    _rejects(_doc(drug="aspirin", therapy={"mode": "stopped"}), E_UNKNOWN_DRUG, "drug.name")
    _rejects(_doc(conc=50, therapy={"mode": "stopped"}), E_HARD_LIMIT, "drug.concentration_ug_per_ml")


# ---- bounds for the over-delivery monitor ----


def test_heaviest_window_spans_two_weekdays_and_matches_a_brute_force_search():
    weekend = _steps(("00:00", 3000), ("10:00", 5500))
    th = _flex(("00:00", 3000), ("07:30", 6500), ("12:00", 5000), ("21:45", 3500), weekly={"sat": weekend,
                                                                                            "sun": weekend})
    t = _parse(_doc(drug="wide", therapy=th))
    quarter_ms = 900000
    rates = []  # ng/day in each quarter hour of the week (every boundary is on one)
    for d in range(7):
        for q in range(96):
            rates.append(t.dose_ng_per_day_at(d, q * quarter_ms))
    for window_q in (4, 96):
        best = 0
        for start in range(len(rates)):
            total = 0
            for k in range(window_q):
                total += rates[(start + k) % len(rates)]
            best = max(best, total)
        assert t.max_window_ng(window_q * quarter_ms) == -(-best * quarter_ms // 86400000)
    # Sunday's heavy evening and Monday's heavy morning: more than any calendar day holds
    assert t.max_window_ng(86400000) > t.max_daily_ng()


def test_periodic_boluses_of_two_consecutive_days():
    t = _parse(_doc(drug="wide", periodic_boluses=[_periodic("08:00", dose=50), _periodic("20:00", dose=70,
                                                                                            days=["fri", "sat"])]))
    assert t.max_periodic_ng() == 2 * 50000 + 2 * 70000  # Friday and Saturday
    assert t.max_periodic_ng(1) == 50000 + 70000
