"""Property tests (CPython, hypothesis): random prescriptions either parse into a Therapy whose invariants hold or
raise PumpError, never anything else; valid ones survive the to_doc/JSON round trip; input is never mutated."""

import copy
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pump.druglib import QTY_BOLUS, QTY_CONC, QTY_DAILY
from pump.errors import E_HARD_LIMIT, PumpError
from pump.prescription import parse_prescription
from pump.therapy import (
    MAX_RATE_NL_PER_DAY,
    MIN_RATE_NL_PER_DAY,
    MODE_CONSTANT,
    MODE_FLEX,
    MODE_STOPPED,
    WEEKDAYS,
    Therapy,
)
from pump.units import DAY_MS, MAX_SMALL_INT
from support.druglib import LIB


# ---- strategies: mostly plausible values, sometimes junk of every JSON type ----

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def rarely(strategy, often, one_in=25):
    # `often`, except about once in `one_in` draws `strategy` (a middle value picks it: hypothesis favours the ends).
    return st.integers(min_value=0, max_value=one_in).flatmap(lambda i: strategy if i == one_in // 2 else often)


def maybe(strategy):
    return rarely(junk, strategy)


hhmm = st.integers(min_value=0, max_value=1439).map(lambda m: "%02d:%02d" % (m // 60, m % 60))
times = maybe(st.one_of(hhmm, st.sampled_from(["00:00", "24:00", "12:60", "8:30", "00:00 "])))
amounts_ug = maybe(
    st.one_of(
        st.integers(min_value=0, max_value=20000),
        st.sampled_from([0, 1, 10, 50, 100, 500, 1000, 5000, 10000]),
        rarely(st.integers(min_value=-5, max_value=2**31), st.integers(min_value=0, max_value=60000), 5),
        st.floats(min_value=0, max_value=60000, allow_nan=False),
        st.integers(min_value=0, max_value=60000000).map(lambda ng: ng / 1000),
    )
)
minutes = maybe(
    st.one_of(
        st.sampled_from([1, 10, 30, 60, 120, 1440, 10.0]),
        st.integers(min_value=1, max_value=1440),
        rarely(st.integers(min_value=-2, max_value=1500), st.just(15), 4),
    )
)
counts = maybe(rarely(st.integers(min_value=-2, max_value=60), st.integers(min_value=0, max_value=48), 8))


def _fixed_dict(required, optional=None):
    # A dict with the given keys, sometimes one missing, sometimes an unknown one added.
    extra = st.dictionaries(st.sampled_from(["x", "dose", "start "]), junk, max_size=1)
    base = st.fixed_dictionaries(required, optional=optional or {})

    def mix(parts):
        d, drop, more = parts
        d = dict(d)
        if drop is not None and d:
            d.pop(sorted(d)[drop % len(d)])
        d.update(more)
        return d

    return st.tuples(base, rarely(st.integers(0, 9), st.none()), rarely(extra, st.just({}))).map(mix)


step = _fixed_dict({"start": times, "dose_ug_per_day": amounts_ug})
steps = maybe(st.lists(step, min_size=0, max_size=18))


def _as_steps(pairs):
    ordered = [("00:00", pairs[0][1])] + sorted(pairs[1:], key=lambda p: p[0])
    return [{"start": s, "dose_ug_per_day": d} for s, d in ordered]


sorted_steps = st.lists(st.tuples(hhmm, amounts_ug), min_size=1, max_size=17, unique_by=lambda p: p[0]).map(_as_steps)
short_steps = st.lists(st.tuples(hhmm, amounts_ug), min_size=1, max_size=4, unique_by=lambda p: p[0]).map(_as_steps)
any_steps = st.one_of(short_steps, rarely(st.one_of(steps, sorted_steps), short_steps, 3))
weekly = maybe(st.dictionaries(st.sampled_from(WEEKDAYS + ("funday",)), any_steps, max_size=3))
therapy = rarely(
    _fixed_dict({"mode": maybe(st.sampled_from(["bolus", "Flex", ""]))}),
    st.one_of(
        _fixed_dict({"mode": st.just("flex"), "steps": any_steps}, {"weekly": weekly}),
        _fixed_dict({"mode": st.just("constant"), "dose_ug_per_day": amounts_ug}),
        rarely(_fixed_dict({"mode": st.just("stopped")}), st.just({"mode": "constant", "dose_ug_per_day": 5000}), 4),
    ),
    8,
)
patient_bolus = maybe(
    _fixed_dict({"dose_ug": amounts_ug, "duration_min": minutes, "lockout_min": minutes, "max_per_day": counts})
)
days = maybe(st.lists(st.sampled_from(WEEKDAYS + ("sunday",)), max_size=8))
periodic = maybe(
    st.lists(_fixed_dict({"start": times, "dose_ug": amounts_ug, "duration_min": minutes}, {"days": days}), max_size=9)
)
drug = _fixed_dict(
    {
        "name": maybe(st.sampled_from(["wide", "wide", "wide", "tight", "Tight", "aspirin"])),
        "concentration_ug_per_ml": maybe(
            rarely(
                st.one_of(st.integers(min_value=-1, max_value=2**31), st.just(10.5)),
                st.sampled_from([1000, 500, 10000.0, 10000, 100]),
                6,
            )
        ),
    }
)
prescription = _fixed_dict(
    {"drug": drug, "therapy": therapy},
    {"patient_bolus": patient_bolus, "periodic_boluses": periodic, "confirm_soft_limits": maybe(st.booleans())},
)
nl_per_step = rarely(st.integers(min_value=1, max_value=30000), st.just(250), 4)


# ---- invariants ----


def _check_rate(t, dose_ng, nl):
    assert type(dose_ng) is int and 0 <= dose_ng <= MAX_SMALL_INT
    if dose_ng:
        num, den = dose_ng * 1000, t.conc_ug_per_ml
        assert MIN_RATE_NL_PER_DAY * den <= num <= MAX_RATE_NL_PER_DAY * den
        assert num >= nl * den


def _check_schedule(t, sched, nl):
    assert type(sched) is tuple and 1 <= len(sched) <= 16
    assert sched[0][0] == 0
    prev = -1
    for start, dose in sched:
        assert type(start) is int and prev < start < DAY_MS and start % 60000 == 0
        prev = start
        _check_rate(t, dose, nl)


def _check_bolus(t, dose_ng, duration_ms, nl):
    assert type(dose_ng) is int and 0 < dose_ng <= MAX_SMALL_INT
    assert dose_ng * 1000 >= nl * t.conc_ug_per_ml
    assert type(duration_ms) is int and 60000 <= duration_ms <= DAY_MS and duration_ms % 60000 == 0
    num, den = dose_ng * 1000 * DAY_MS, t.conc_ug_per_ml * duration_ms
    assert MIN_RATE_NL_PER_DAY * den <= num <= MAX_RATE_NL_PER_DAY * den


def check_invariants(t, nl):
    assert isinstance(t, Therapy)
    assert t.drug in LIB.drugs
    assert type(t.conc_ug_per_ml) is int and 0 < t.conc_ug_per_ml <= MAX_SMALL_INT
    assert t.mode in (MODE_STOPPED, MODE_CONSTANT, MODE_FLEX)
    if t.mode == MODE_STOPPED:
        assert t.daily == () and t.weekly is None and t.patient_bolus is None and t.periodic_boluses == ()
    else:
        _check_schedule(t, t.daily, nl)
        if t.mode == MODE_CONSTANT:
            assert len(t.daily) == 1 and t.weekly is None
    if t.weekly is not None:
        assert type(t.weekly) is tuple and len(t.weekly) == 7
        assert any(s != t.daily for s in t.weekly)
        for s in t.weekly:
            _check_schedule(t, s, nl)
    pb = t.patient_bolus
    if pb is not None:
        _check_bolus(t, pb.dose_ng, pb.duration_ms, nl)
        assert type(pb.lockout_ms) is int and 0 <= pb.lockout_ms <= DAY_MS
        assert type(pb.max_per_day) is int and 0 <= pb.max_per_day <= 48
    assert type(t.periodic_boluses) is tuple and len(t.periodic_boluses) <= 8
    assert list(t.periodic_boluses) == sorted(t.periodic_boluses)
    spans = []
    for start, dose_ng, duration_ms, mask in t.periodic_boluses:
        assert 0 <= start < DAY_MS and 1 <= mask <= 0x7F
        _check_bolus(t, dose_ng, duration_ms, nl)
        spans += [(d * DAY_MS + start, d * DAY_MS + start + duration_ms) for d in range(7) if mask >> d & 1]
    spans.sort()
    for (_b0, e0), (b1, _e1) in zip(spans, spans[1:] + [(spans[0][0] + 7 * DAY_MS, 0)] if spans else []):
        assert e0 <= b1
    # The library's hard limits hold; soft ones too unless the therapy records a confirmation.
    checks = [(QTY_CONC, t.conc_ug_per_ml, True)]
    if t.mode != MODE_STOPPED:
        checks.append((QTY_DAILY, t.max_daily_total_ng(), False))
        checks.append((QTY_DAILY, min(t.daily_ng(d) for d in range(7)), True))
        rates = [dose for s in (t.weekly or (t.daily,)) for _, dose in s]
        checks.append((QTY_DAILY, max(rates), False))
        assert t.max_daily_total_ng() <= MAX_SMALL_INT
    if pb is not None:
        checks.append((QTY_BOLUS, pb.dose_ng, True))
    checks += [(QTY_BOLUS, p[1], True) for p in t.periodic_boluses]
    found_soft = False
    for qty, value, lower in checks:
        v = LIB.violation(t.drug, qty, value, lower)
        assert v is None or v[0] != E_HARD_LIMIT
        found_soft = found_soft or v is not None
    assert found_soft == t.soft_confirmed
    # Queries stay in range.
    for d in range(7):
        for ms in (0, 1, DAY_MS // 2, DAY_MS - 1):
            assert 0 <= t.dose_ng_per_day_at(d, ms) <= MAX_SMALL_INT
    text = t.describe()
    assert type(text) is str and "\n" not in text


def _round_trip(t, nl):
    back = json.loads(json.dumps(t.to_doc()))
    again = parse_prescription(back, LIB, nl)
    assert again == t
    assert again.to_doc() == t.to_doc()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(prescription, nl_per_step, st.booleans())
def test_random_documents_parse_or_raise_pump_error(doc, nl, confirm):
    before = copy.deepcopy(doc)
    try:
        t = parse_prescription(doc, LIB, nl, confirm)
    except PumpError as e:
        assert type(e.code) is int and type(e.detail) is str and e.detail
        event("E%d" % e.code)
    else:
        event("accepted %s" % t.to_doc()["therapy"]["mode"])
        check_invariants(t, nl)
        _round_trip(t, nl)
    assert doc == before


# ---- always-valid documents: acceptance and exact round trip of arbitrary ng amounts ----

_CONC = 1000  # wide drug: at 1000 ug/mL, 1 ng/day is 1 nL/day


@st.composite
def valid_prescriptions(draw):
    rate_ng = st.one_of(st.just(0), st.integers(min_value=MIN_RATE_NL_PER_DAY, max_value=MAX_RATE_NL_PER_DAY))

    def schedule():
        mins = draw(st.lists(st.integers(min_value=1, max_value=1439), max_size=15, unique=True))
        return [
            {"start": "%02d:%02d" % (m // 60, m % 60), "dose_ug_per_day": draw(rate_ng) / 1000}
            for m in [0] + sorted(mins)
        ]

    def bolus():
        dur = draw(st.integers(min_value=1, max_value=180))
        lo = max(250, -(-MIN_RATE_NL_PER_DAY * dur // 1440))
        hi = MAX_RATE_NL_PER_DAY * dur // 1440
        return draw(st.integers(min_value=lo, max_value=hi)) / 1000, dur

    mode = draw(st.sampled_from(["constant", "flex", "stopped"]))
    if mode == "constant":
        th = {"mode": mode, "dose_ug_per_day": draw(rate_ng) / 1000}
    elif mode == "flex":
        th = {"mode": mode, "steps": schedule()}
        wd = draw(st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=7))
        if wd:
            th["weekly"] = {d: schedule() for d in wd}
    else:
        th = {"mode": mode}
    doc = {"drug": {"name": "wide", "concentration_ug_per_ml": _CONC}, "therapy": th}
    if mode != "stopped" and draw(st.booleans()):
        dose, dur = bolus()
        doc["patient_bolus"] = {
            "dose_ug": dose,
            "duration_min": dur,
            "lockout_min": draw(st.integers(0, 1440)),
            "max_per_day": draw(st.integers(0, 48)),
        }
    if mode != "stopped":
        slots = draw(st.lists(st.integers(min_value=0, max_value=7), unique=True, max_size=8))
        periodic = []
        for s in slots:  # 3-hour slots, at most 180 minutes long: never overlapping
            dose, dur = bolus()
            m = 180 * s + draw(st.integers(0, 180 - dur))
            p = {"start": "%02d:%02d" % (m // 60, m % 60), "dose_ug": dose, "duration_min": dur}
            wd = draw(st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=7))
            if wd:
                p["days"] = wd
            periodic.append(p)
        if periodic:
            doc["periodic_boluses"] = periodic
    return doc


@settings(max_examples=800, deadline=None)
@given(valid_prescriptions())
def test_valid_documents_are_accepted_and_round_trip(doc):
    before = copy.deepcopy(doc)
    t = parse_prescription(doc, LIB, 250)
    check_invariants(t, 250)
    _round_trip(t, 250)
    assert doc == before
    # The ng amounts are exactly what the document said in ug.
    if t.mode == MODE_CONSTANT:
        assert t.daily[0][1] == round(doc["therapy"]["dose_ug_per_day"] * 1000)
