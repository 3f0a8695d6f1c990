"""A screening trial's program (pump.trial): dates, titration steps checked as prescriptions against the drug library
and the mechanism, the step due on a day, and pain scores packed into the event log's two arguments."""

from support import raises
from support.druglib import LIB
from pump.errors import E_HARD_LIMIT, E_MALFORMED, E_RANGE, E_SOFT_LIMIT, PumpError
from pump.trial import MAX_FREE_CODE, SIDE_EFFECTS, check_score, parse_date, parse_trial, unpack_score

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

NL = 200  # nL per step


def trial(**over):
    doc = {"start": "2026-08-04", "end": "2026-08-10", "drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
           "titration": [{"day": 0, "dose_ug_per_day": 100}, {"day": 2, "dose_ug_per_day": 200},
                         {"day": 4, "dose_ug_per_day": 400}]}
    doc.update(over)
    return doc


def refused(doc, code, key, confirm=False):
    with raises(PumpError) as e:
        parse_trial(doc, LIB, NL, confirm)
    assert e.value.code == code, (e.value.code, e.value.detail)
    assert e.value.detail.startswith(key), e.value.detail
    return e.value


def test_a_trial_is_its_dates_and_its_steps_in_whole_ng_per_day():
    t = parse_trial(trial(), LIB, NL)
    assert (t.start_day, t.end_day) == (parse_date("2026-08-04", "x"), parse_date("2026-08-10", "x"))
    assert t.steps == ((0, 100000), (2, 200000), (4, 400000))
    assert [t.step_due(t.start_day + d) for d in (-30, -1, 0, 1, 2, 3, 4, 5, 500)] == [-1, -1, 0, 0, 1, 1, 2, 2, 2]
    assert t.program_doc(1) == {"drug": {"name": "morphine", "concentration_ug_per_ml": 1000},
                                "therapy": {"mode": "constant", "dose_ug_per_day": 200}}


def test_an_end_on_or_before_the_start_or_too_far_after_it_is_refused():
    refused(trial(end="2026-08-03"), E_RANGE, "trial.end: 2026-08-03: allowed after trial.start (2026-08-04)")
    refused(trial(end="2026-08-04"), E_RANGE, "trial.end")
    refused(trial(end="2026-10-04"), E_RANGE, "trial.end")  # 61 days
    assert parse_trial(trial(end="2026-10-03"), LIB, NL).end_day - parse_trial(trial(), LIB, NL).start_day == 60


def test_dates_that_are_no_calendar_date_or_outside_the_clock_range_are_refused():
    for text in ("2026-02-30", "2026-8-04", "2026-13-01", "2023-12-31", "2100-01-01", 20260804, None, "2026-08-0x"):
        refused(trial(start=text), E_MALFORMED, "trial.start")
    assert parse_date("2024-02-29", "k") == parse_date("2024-03-01", "k") - 1


def test_titration_steps_must_start_on_day_0_rise_in_days_and_end_before_the_trial_does():
    step = {"day": 0, "dose_ug_per_day": 100}
    refused(trial(titration=[]), E_MALFORMED, "trial.titration")
    refused(trial(titration=[dict(step, day=1)]), E_RANGE, "trial.titration[0].day")
    refused(trial(titration=[step, dict(step, day=0)]), E_RANGE, "trial.titration[1].day")
    refused(trial(titration=[step, dict(step, day=6)]), E_RANGE, "trial.titration[1].day: 6")  # the end's day
    refused(trial(titration=[step, dict(step, day=1.5)]), E_MALFORMED, "trial.titration[1].day")
    refused(trial(titration=[step] * 17), E_MALFORMED, "trial.titration")
    refused(trial(titration=[{"day": 0}]), E_MALFORMED, "trial.titration[0]")
    refused(trial(titration=[dict(step, rate=1)]), E_MALFORMED, "trial.titration[0].rate: unknown key")
    refused(trial(extra=1), E_MALFORMED, "trial.extra: unknown key")
    refused({"start": "2026-08-04"}, E_MALFORMED, "trial.end: missing")


def test_each_step_is_checked_as_a_program_against_the_library_and_the_mechanism():
    # the tests' morphine: daily dose hard 50..20000, soft 100..15000 ug/day
    high = [{"day": 0, "dose_ug_per_day": 100}, {"day": 3, "dose_ug_per_day": 20001}]
    refused(trial(titration=high), E_HARD_LIMIT, "trial.titration[1].dose_ug_per_day")
    soft = [{"day": 0, "dose_ug_per_day": 16000}]
    refused(trial(titration=soft), E_SOFT_LIMIT, "trial.titration[0].dose_ug_per_day")
    assert parse_trial(trial(titration=soft), LIB, NL, True).steps == ((0, 16000000),)  # confirmed
    refused(trial(titration=[{"day": 0, "dose_ug_per_day": 40}]), E_HARD_LIMIT, "trial.titration[0]")
    refused(trial(drug={"name": "heroin", "concentration_ug_per_ml": 1000}), 103, "trial.titration[0].drug")
    slow = trial(drug={"name": "wide", "concentration_ug_per_ml": 1000}, titration=[{"day": 0, "dose_ug_per_day": 1}])
    e = refused(slow, E_RANGE, "trial.titration[0].dose_ug_per_day")  # 1 uL/day: below the mechanism's lowest rate
    assert "lowest rate" in e.detail


def test_a_score_is_0_to_10_with_the_fixed_side_effects_and_a_free_code_packed_into_two_arguments():
    every = (1 << len(SIDE_EFFECTS)) - 1
    for score, baseline, side, free in ((0, False, 0, 0), (10, True, every, MAX_FREE_CODE), (5, False, 5, 1)):
        a, b = check_score(score, baseline, side, free)
        assert -2**31 <= b < 2**31 and 0 <= a < 2**8
        got = unpack_score(a | 2 << 8, b)
        assert got[:3] == (score, baseline, 2) and got[4] == free
        assert got[3] == [SIDE_EFFECTS[i] for i in range(len(SIDE_EFFECTS)) if side >> i & 1]
    for score in (-1, 11, 255, True, 5.0):
        with raises(PumpError) as e:
            check_score(score, False, 0, 0)
        assert e.value.code == E_RANGE and e.value.detail.startswith("pain.score")
    with raises(PumpError) as e:
        check_score(5, False, every + 1, 0)
    assert e.value.detail.startswith("pain.side_effects")
    with raises(PumpError) as e:
        check_score(5, False, 0, MAX_FREE_CODE + 1)
    assert e.value.detail.startswith("pain.free_code")
