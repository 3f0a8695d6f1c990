"""Schedule phases after clock corrections (pump.phases) and the dose plan's transition: the rate is the least over
the phases in force, periodic boluses run inside it, the transition ends a day after the last correction (later while
the new schedule's periodic bolus runs), and a refused correction changes nothing. The firmware-level guarantee (no
more than the program in any 24 h, no false hold) is checked through the simulator in host_tests/sim/test_sim_clock.py.
"""

from pump.compat import ticks_add, ticks_diff
from pump.doseplan import KIND_PATIENT, KIND_PERIODIC
from pump.errors import E_RANGE, E_STATE, PumpError
from pump.phases import (
    DAY_MS,
    MAX_PHASES,
    WEEK_MS,
    Phases,
    next_change_ms,
    periodic_at,
    scheduled_rate,
)

from support import raises
from support.plan import HOUR_MS, MONDAY_S, START, drive, plan_for, therapy

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_MIN = 60000
# Monday 00:00-08:00 2 mg/day, 08:00-20:00 6 mg/day, 20:00-24:00 3 mg/day; Sunday 1 mg/day all day
_DAILY = ((0, 2000000), (8 * HOUR_MS, 6000000), (20 * HOUR_MS, 3000000))
_WEEKLY = (_DAILY,) * 6 + (((0, 1000000),),)
# 50 ug over 30 min at 12:00 every day; 100 ug over 2 h at 23:00 on Sundays (into Monday, across the week's end)
_PERIODIC = ((12 * HOUR_MS, 50000, 30 * _MIN, 0x7F), (23 * HOUR_MS, 100000, 2 * HOUR_MS, 0x40))


def _th():
    return therapy(_DAILY, 10000, _PERIODIC, _WEEKLY)


def _wk(day, hours, minutes=0):
    return day * DAY_MS + hours * HOUR_MS + minutes * _MIN


# ---- the program as a function of the week ----


def test_periodic_boluses_run_from_their_start_to_their_end_across_midnight_and_the_week():
    th = _th()
    assert periodic_at(th, _wk(2, 12)) == (0, 50000, 30 * _MIN)  # from its start, inclusive
    assert periodic_at(th, _wk(2, 12, 29) + 59999) == (30 * _MIN - 1, 50000, 30 * _MIN)
    assert periodic_at(th, _wk(2, 12, 30)) is None  # to its end, exclusive
    assert periodic_at(th, _wk(6, 23, 30)) == (30 * _MIN, 100000, 2 * HOUR_MS)  # Sunday 23:30
    assert periodic_at(th, _wk(0, 0, 59)) == (119 * _MIN, 100000, 2 * HOUR_MS)  # Monday 00:59: into the new week
    assert periodic_at(th, _wk(0, 1)) is None
    assert periodic_at(th, _wk(5, 23, 30)) is None  # Saturday: not its day


def test_scheduled_rate_is_basal_plus_the_running_periodic_bolus():
    th = _th()
    assert scheduled_rate(th, _wk(0, 7)) == (2000000, 1)
    assert scheduled_rate(th, _wk(0, 8)) == (6000000, 1)
    # 50 ug over 30 min is 2.4 mg/day on top of the 6 mg/day basal
    num, den = scheduled_rate(th, _wk(3, 12, 10))
    assert num * 1 == (6000000 + 2400000) * den
    num, den = scheduled_rate(th, _wk(0, 0, 30))  # Sunday's periodic bolus runs on into Monday's 2 mg/day
    assert num == 2000000 * den + 100000 * DAY_MS and den == 2 * HOUR_MS
    assert scheduled_rate(th, _wk(6, 10)) == (1000000, 1)  # Sunday's own schedule


def test_next_change_is_the_next_step_midnight_or_periodic_edge():
    th = _th()
    assert next_change_ms(th, _wk(0, 1)) == 7 * HOUR_MS  # the 08:00 step
    assert next_change_ms(th, _wk(0, 11, 59)) == _MIN  # a periodic start
    assert next_change_ms(th, _wk(0, 12, 10)) == 20 * _MIN  # its end
    assert next_change_ms(th, _wk(0, 21)) == 3 * HOUR_MS  # midnight
    assert next_change_ms(th, _wk(6, 22)) == HOUR_MS  # Sunday's periodic start
    assert next_change_ms(th, _wk(6, 23, 30)) == 30 * _MIN  # midnight, the week's end
    assert next_change_ms(th, _wk(0, 0, 30)) == 30 * _MIN  # the end of the bolus from Sunday
    assert next_change_ms(th, _wk(2, 12) - 1) == 1  # a millisecond away
    assert next_change_ms(th, _wk(2, 12, 30) - 1) == 1


# ---- the phase list ----


def test_a_correction_keeps_the_old_schedule_as_a_phase_for_a_day():
    ph = Phases()
    assert (ph.shift_ms, ph.until_s) == ([], [])
    ph.correct(5 * HOUR_MS, 1000500)  # 5 h forward at monotonic 1000.5 s
    assert ph.shift_ms == [WEEK_MS - 5 * HOUR_MS]  # the old schedule clock is 5 h behind the new wall clock
    assert ph.until_s == [1001 + 86400]  # a day from the next whole second: never less than a day
    ph.correct(-365 * DAY_MS, 2000000)  # a year back (52 weeks and a day)
    assert ph.shift_ms == [(DAY_MS - 5 * HOUR_MS) % WEEK_MS, DAY_MS] and ph.until_s == [87401, 88400]
    ph.correct(7 * DAY_MS, 3000000)  # a whole week: the schedule does not move, nothing new
    assert ph.shift_ms == [(DAY_MS - 5 * HOUR_MS) % WEEK_MS, DAY_MS] and ph.until_s == [87401, 88400]
    ph.correct(-DAY_MS, 4000000)  # a day back: a third earlier phase
    assert ph.shift_ms == [(2 * DAY_MS - 5 * HOUR_MS) % WEEK_MS, 2 * DAY_MS, DAY_MS]
    assert ph.until_s == [87401, 88400, 90400]


def test_a_correction_back_to_the_current_schedule_leaves_no_phase():
    ph = Phases()
    ph.correct(-3 * _MIN, 0)
    ph.correct(3 * _MIN, 1000)  # undone: the earlier phase is the current schedule again
    assert ph.shift_ms == [WEEK_MS - 3 * _MIN]  # only the schedule that ran for the second in between
    ph.correct(-3 * _MIN, 2000)
    assert ph.shift_ms == [3 * _MIN] and ph.until_s == [86402]


def test_too_many_corrections_are_refused_and_change_nothing():
    ph = Phases()
    for k in range(MAX_PHASES - 1):
        ph.correct((k + 1) * _MIN, k * 1000)
    shifts, untils = list(ph.shift_ms), list(ph.until_s)
    with raises(PumpError) as e:
        ph.correct(HOUR_MS, 3600000)
    # the first leaves at 86400 s: 23 h from 3600 s, and a minute; the line fits a BLE answer (48 bytes)
    assert e.value.code == E_STATE and e.value.detail == "wall_s: 3 corrections phasing in, wait 1381 min"
    assert len(e.value.detail) <= 48
    assert ph.shift_ms == shifts and ph.until_s == untils
    ph.expire(None, 86400000, 0)
    ph.correct(HOUR_MS, 86400000)  # possible again once the first one left
    assert len(ph.shift_ms) == MAX_PHASES - 1
    late = Phases()
    late.restore([1, 2, 3], [100, 100, 100])  # their days are over, they wait for a periodic bolus's end
    with raises(PumpError) as e:
        late.correct(HOUR_MS, 200000)
    assert e.value.detail.endswith("wait 1 min")


def test_phases_leave_one_by_one_and_the_next_leaving_time_is_known():
    ph = Phases()
    ph.correct(HOUR_MS, 0)
    ph.correct(HOUR_MS, 3600000)
    assert ph.next_leave_ms(None, 0, 0) == 86400000
    assert ph.next_leave_ms(None, 86400000, 0) == 3600000  # the first one's time has come: the next is the second's
    ph.expire(None, 86400000, 0)
    assert ph.shift_ms == [WEEK_MS - HOUR_MS] and ph.until_s == [90000]
    ph.expire(None, 90000000, 0)
    assert ph.shift_ms == [] and ph.next_leave_ms(None, 90000000, 0) is None


def test_a_phase_leaves_at_the_end_of_the_current_schedules_periodic_bolus_running_at_its_until():
    th = _th()
    ph = Phases()
    ph.correct(-10 * _MIN, 0)  # until: monotonic 86400 s
    # at monotonic 3600 s the current schedule is where its until (86400 s) falls on Tuesday 12:05, 5 min into its
    # 12:00 bolus: the phase waits for that bolus's end, 12:30
    now_ms = 3600000
    week_ms = _wk(1, 12, 5) - (86400000 - now_ms)
    assert ph.leave_ms(0, th, now_ms, week_ms) == 86400000 + 25 * _MIN
    assert ph.leave_ms(0, None, now_ms, week_ms) == 86400000  # no program, no bolus to wait for
    assert ph.leave_ms(0, th, now_ms, week_ms - 5 * _MIN) == 86400000  # the bolus starts at the until: no wait
    assert ph.leave_ms(0, th, now_ms, week_ms - 5 * _MIN + 1) == 86400000 + 30 * _MIN - 1  # it started 1 ms before
    later = 86400000 + 30 * _MIN - 2  # the same mapping (wall and monotonic time move together), 1 ms before it leaves
    assert ph.next_leave_ms(th, later, week_ms - 5 * _MIN + 1 + later - now_ms) == 1
    ph.expire(th, 86400000 + 25 * _MIN - 1, week_ms + 86400000 - now_ms + 25 * _MIN - 1)
    assert len(ph.shift_ms) == 1
    assert ph.next_leave_ms(th, 86400000, week_ms + 86400000 - now_ms) == 25 * _MIN
    ph.expire(th, 86400000 + 25 * _MIN, week_ms + 86400000 - now_ms + 25 * _MIN)
    assert ph.shift_ms == []


def test_restore_refuses_a_corrupt_record_and_changes_nothing():
    ph = Phases()
    ph.correct(HOUR_MS, 0)
    for shifts, untils in (([0], [1]), ([WEEK_MS], [1]), ([1, 2], [1]), ([1, 2, 3, 4], [1, 1, 1, 1])):
        with raises(PumpError) as e:
            ph.restore(shifts, untils)
        assert e.value.code == E_RANGE and e.value.detail == "phases"
        assert ph.shift_ms == [WEEK_MS - HOUR_MS]
    ph.restore([1, WEEK_MS - 1], [5, 6])
    assert ph.shift_ms == [1, WEEK_MS - 1] and ph.until_s == [5, 6]


def test_the_rate_is_the_least_over_the_phases():
    th = _th()
    ph = Phases()
    assert ph.rate(th, _wk(0, 9)) == (6000000, 1)
    ph.correct(-2 * HOUR_MS, 0)  # the old schedule runs 2 h ahead of the new wall clock
    assert ph.rate(th, _wk(0, 7)) == (2000000, 1)  # new: 07:00 (2 mg/day), old: 09:00 (6 mg/day)
    assert ph.rate(th, _wk(0, 19)) == (3000000, 1)  # new: 19:00 (6 mg/day), old: 21:00 (3 mg/day)
    assert ph.next_change_ms(th, _wk(0, 5)) == HOUR_MS  # the old schedule's 08:00 comes first


# ---- the dose plan through a transition ----


def _rate(plan):
    return plan.rate_num, plan.rate_den


def _volume(dose_ng_per_day):
    """(num, den) nL/day at 10 mg/mL, reduced like the plan's."""
    return dose_ng_per_day // 10, 1


def test_a_correction_during_a_periodic_bolus_lets_it_go_on_inside_the_old_schedule():
    th = _th()
    plan = plan_for(th, 200, MONDAY_S + 11 * 3600)  # Monday 11:00
    drive(plan, HOUR_MS + 10 * _MIN)  # 12:10: the periodic bolus runs as a Bolus object
    assert [b.kind for b in plan.boluses] == [KIND_PERIODIC]
    before = _rate(plan)
    now = ticks_add(START, HOUR_MS + 10 * _MIN)
    plan.correct_clock(now, (MONDAY_S + 12 * 3600 + 13 * 60) * 1000)  # 3 min forward
    assert plan.boluses == [] and len(plan.phases.shift_ms) == 1
    assert _rate(plan) == before  # both schedules are inside the bolus: it goes on unchanged
    plan.take_due(ticks_add(now, 17 * _MIN), 10 ** 6)  # 12:30 by the new clock: its bolus ended, the old one's not
    assert _rate(plan) == _volume(6000000)
    plan.take_due(ticks_add(now, 20 * _MIN), 10 ** 6)  # both ended
    assert _rate(plan) == _volume(6000000) and plan.boluses == []


def test_no_periodic_bolus_object_starts_in_a_transition_and_they_start_again_after_it():
    th = _th()
    plan = plan_for(th, 200, MONDAY_S + 6 * 3600)  # Monday 06:00
    plan.correct_clock(START, (MONDAY_S + 6 * 3600 + 60) * 1000)  # a minute forward
    drive(plan, DAY_MS - 1)  # Monday's 12:00 bolus is part of the phases' rate: no object
    assert plan.finished == [] and plan.boluses == [] and len(plan.phases.shift_ms) == 1
    drive(plan, DAY_MS, start=ticks_add(START, DAY_MS - 1))
    assert plan.phases.shift_ms == []
    # Tuesday's 12:00 bolus, after the transition, ran as an object again: its end is reported
    assert [b.kind for b in plan.finished] == [KIND_PERIODIC]


def test_the_transition_waits_for_the_new_schedules_periodic_bolus_to_end():
    th = _th()
    # Monday 12:15 by the old clock, set 10 min back: the transition's day is over at Tuesday 12:05 by the new clock,
    # while the new schedule's 12:00 bolus runs: the old phase stays until that bolus ends at 12:30
    plan = plan_for(th, 200, MONDAY_S + 12 * 3600 + 15 * 60)
    plan.correct_clock(START, (MONDAY_S + 12 * 3600 + 5 * 60) * 1000)
    assert plan.boluses == [] and plan.phases.until_s == [86400]
    drive(plan, DAY_MS + 24 * _MIN)
    assert len(plan.phases.shift_ms) == 1  # its day is over, but the bolus that started at 12:00 still runs
    drive(plan, 2 * _MIN, start=ticks_add(START, DAY_MS + 24 * _MIN))
    assert plan.phases.shift_ms == [] and plan.boluses == []  # ended with the bolus; no object to cut short


def test_phases_leave_while_suspended_and_a_refused_correction_changes_nothing():
    th = _th()
    plan = plan_for(th, 200, MONDAY_S + 9 * 3600)
    plan.suspend(START)
    wall = MONDAY_S + 9 * 3600
    for k in range(MAX_PHASES - 1):
        plan.correct_clock(START, (wall + (k + 1) * 60) * 1000)
    rate, boundary, day, ms = _rate(plan), plan.boundary, plan.cal.day, plan.cal.ms_of_day
    with raises(PumpError) as e:
        plan.correct_clock(START, (wall + 3600) * 1000)
    assert e.value.code == E_STATE
    assert (_rate(plan), plan.boundary, plan.cal.day, plan.cal.ms_of_day) == (rate, boundary, day, ms)
    assert ticks_diff(plan.next_deadline(), START) <= DAY_MS
    drive(plan, DAY_MS + 1000)
    assert plan.phases.shift_ms == []  # the plan woke for them although nothing runs


def test_a_correction_by_whole_weeks_keeps_the_schedule_and_its_periodic_bolus():
    th = _th()
    plan = plan_for(th, 200, MONDAY_S + 11 * 3600)
    drive(plan, HOUR_MS + _MIN)  # Monday 12:01: the periodic bolus runs
    now = ticks_add(START, HOUR_MS + _MIN)
    plan.start_bolus(now, KIND_PATIENT, 100000, 10 * _MIN)
    assert sorted(b.kind for b in plan.boluses) == [KIND_PATIENT, KIND_PERIODIC]
    rate = _rate(plan)
    plan.correct_clock(now, (MONDAY_S + 12 * 3600 + 60 - 14 * 86400) * 1000)  # two weeks back
    assert plan.phases.shift_ms == [] and _rate(plan) == rate
    assert sorted(b.kind for b in plan.boluses) == [KIND_PATIENT, KIND_PERIODIC]
    plan.correct_clock(now, (MONDAY_S + 13 * 3600 + 60 - 14 * 86400) * 1000)  # an hour forward: a phase
    assert [b.kind for b in plan.boluses] == [KIND_PATIENT]  # the periodic bolus goes on in the old phase's rate
