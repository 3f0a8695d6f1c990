"""Safety limits on the monotonic pump clock (pump.monoclock), through the whole controller: a wall-clock change of
any size neither opens nor closes the patient-bolus lockout and daily maximum; suspends and holds of weeks age the
over-delivery windows correctly; a reset keeps the grants and the windows; a halted pump keeps its clock.
"""

from pump import alarms as al
from pump.errors import E_DAILY_MAX, E_LOCKOUT, PumpError


from support import raises
from support.plan import DAY_MS, HOUR_MS
from support.rig import PB, Rig, break_dose_engine, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_YEAR_S = 365 * 86400


def _ask(rig):
    """A patient-bolus request now: True when granted, False when refused for the lockout or the daily maximum."""
    try:
        rig.pump.patient_bolus(now=rig.now)
    except PumpError as e:
        assert e.code in (E_LOCKOUT, E_DAILY_MAX), e
        return False
    return True


def _most_in_a_day(times_ms):
    """Most of the (sorted) times inside any 24 h of pump time."""
    best = 0
    j = 0
    for i in range(len(times_ms)):
        while times_ms[i] - times_ms[j] >= DAY_MS:
            j += 1
        best = max(best, i - j + 1)
    return best


def _refused(rig, code):
    with raises(PumpError) as e:
        rig.pump.patient_bolus(now=rig.now)
    assert e.value.code == code, e.value


def _over_delivery(pump):
    return pump.safety.alarms.is_active(al.A_OVER_DELIVERY)


# ---- clock changes and the patient-bolus limits ----


def test_a_clock_set_forward_a_day_lets_no_more_than_the_daily_maximum_through_in_any_24_hours():
    # the defect: grants were kept in wall seconds, so a day forward forgot them: 8 boluses in 16 real hours
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))  # lockout 120 min, at most 4 a day
    granted = []
    for i in range(26):  # a request every 2 h 1 s for 52 h
        if i == 4:
            rig.pump.set_clock(rig.pump.wall_s(rig.now) + 86400, now=rig.now)
        if _ask(rig):
            granted.append(rig.clock.t_ms)
        rig.run(2 * HOUR_MS + 1000)
    assert _most_in_a_day(granted) == 4
    assert len(granted) == 10  # 4 a day: at 0-6 h, at 24-30 h, at 48-50 h


def test_a_clock_set_back_a_year_does_not_lock_the_patient_out():
    # the defect: a grant "in the future" counted as recent: every patient bolus refused for a year
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    pump.patient_bolus(now=rig.now)
    rig.run(HOUR_MS)
    pump.set_clock(pump.wall_s(rig.now) - _YEAR_S, now=rig.now)
    rig.run(HOUR_MS - 1000)
    _refused(rig, E_LOCKOUT)  # the lockout still runs out 2 h after the grant, not sooner
    rig.run(1000)
    assert _ask(rig)
    for _ in range(2):
        rig.run(2 * HOUR_MS)
        assert _ask(rig)
    rig.run(2 * HOUR_MS)
    _refused(rig, E_DAILY_MAX)  # the grant before the clock change still counts in the day
    rig.run(24 * HOUR_MS - 8 * HOUR_MS)  # 24 h after the first grant
    assert _ask(rig)


def test_clock_changes_back_and_forth_keep_the_lockout_to_the_second():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    pump.patient_bolus(now=rig.now)
    wall = pump.wall_s(rig.now)
    for shift_s in (86400, -_YEAR_S, 3 * 86400 + 7 * 3600):
        rig.run(20 * 60000)
        pump.set_clock(wall + shift_s, now=rig.now)
        _refused(rig, E_LOCKOUT)
    rig.run(2 * HOUR_MS - 3 * 20 * 60000 - 1000)
    _refused(rig, E_LOCKOUT)
    rig.run(1000)
    assert _ask(rig)


# ---- resets ----


def test_a_reset_keeps_the_grants_and_the_time_the_rtc_vouches_for():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    rig.pump.patient_bolus(now=rig.now)
    rig.run(HOUR_MS + 7 * 60000)  # the last checkpoint was minutes ago: the RTC bridges the gap
    rig.boot()
    rig.run(HOUR_MS - 7 * 60000 - 1000)
    _refused(rig, E_LOCKOUT)
    rig.run(1000)
    assert _ask(rig)


def test_a_reset_with_the_rtc_lost_never_shortens_the_lockout():
    # the boards' RTC does not survive a power cut: the pump resumes from its checkpoint, and the time it cannot
    # vouch for is not counted (the lockout ends later, never sooner)
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    pump.patient_bolus(now=rig.now)
    pump.suspend(now=rig.now)  # checkpointed now; nothing changes (nothing saved) for the next hour
    mono_s = pump.mono.ms_at(rig.now) // 1000
    rig.run(HOUR_MS)
    rig.rtc.set_ms(0)  # power cut: the RTC starts again from 2000-01-01
    pump = rig.boot()
    assert pump.mono.s == mono_s  # back to the checkpoint, like the wall clock
    pump.resume(now=rig.now)
    rig.run(2 * HOUR_MS - 1000)
    _refused(rig, E_LOCKOUT)  # 3 h after the grant in real time, 2 h in the pump's
    rig.run(1000)
    assert _ask(rig)


def test_an_rtc_far_ahead_at_a_reset_moves_the_monotonic_clock_by_two_days_at_most():
    rig = Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB))
    pump = rig.pump
    rig.run(HOUR_MS)
    pump.checkpoint(rig.now)
    mono_s = pump.mono.ms_at(rig.now) // 1000
    wall_s = pump.wall_s(rig.now)
    rig.rtc.set_ms(rig.rtc.now_ms() + 10 * _YEAR_S * 1000)  # a fault: the RTC reads ten years later
    pump = rig.boot()
    assert pump.wall_s(rig.now) == wall_s + 10 * _YEAR_S  # the calendar follows the RTC, as it always has
    assert pump.mono.s == mono_s + 2 * 86400  # the safety limits see at most two days go by
    assert not _over_delivery(pump)


def test_a_breach_building_before_a_reset_is_still_caught_after_it():
    # the defect: the windows started empty at every boot, so a dose engine three times too fast that reset every
    # 20 minutes was never caught
    rig = Rig(fill_ul=20000, prescription=rx(4000))  # 0.4 mL/day: 83.3 steps an hour
    pump = rig.pump
    cap = pump.safety.hour_window.cap
    break_dose_engine(pump, factor=3)
    rig.run(16 * 60000)  # 3x: 66 steps; the counters (and the windows) were saved at 15 min
    assert not _over_delivery(pump)
    day_total = pump.safety.day_window.total
    pump = rig.boot()  # the engine is still broken after the reset
    assert 0 < day_total - pump.safety.day_window.total <= 5  # what ran since the checkpoint is lost, no more
    break_dose_engine(pump, factor=3)
    rig.run(HOUR_MS)
    assert _over_delivery(pump) and pump.safety.holding
    assert len(rig.step_times) <= cap + 3 + 5  # caught as without the reset, but for the steps lost with it


def test_resets_in_a_flex_program_raise_no_false_over_delivery():
    # a heavy hour in light days: in steady state the day window holds exactly its bound, so a reset that shifted the
    # schedule against the windows (time the wall clock counts and the windows do not) would raise a false hold
    doc = {
        "drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 1000},
                                              {"start": "06:00", "dose_ug_per_day": 14000},
                                              {"start": "07:00", "dose_ug_per_day": 1000}]},
    }
    for rtc_lost in (False, True):
        rig = Rig(fill_ul=20000, prescription=doc)
        rig.run(2 * DAY_MS)
        for _ in range(6):
            rig.run(5 * HOUR_MS + 17 * 60000)
            if rtc_lost:
                rig.rtc.set_ms(0)
            rig.boot()
        rig.run(2 * DAY_MS)
        assert not _over_delivery(rig.pump) and not rig.pump.safety.holding, rtc_lost


# ---- long idle times ----


def test_a_week_or_five_weeks_suspended_end_without_a_false_over_delivery():
    # the defect: the windows aged on ticks, valid for 6.2 days; after a longer suspend they kept the old counts
    for days in (7, 35):
        rig = Rig(fill_ul=20000, prescription=rx(4000))
        pump = rig.pump
        rig.run(10 * HOUR_MS)
        pump.suspend(now=rig.now)
        rig.run(days * DAY_MS)
        pump.resume(now=rig.now)
        rig.run(2 * DAY_MS)
        assert not _over_delivery(pump) and not pump.safety.holding, days
        # and the monitor still works: an engine three times too fast is caught within the hour
        n = len(rig.step_times)
        cap = pump.safety.hour_window.cap
        break_dose_engine(pump, factor=3)
        rig.run(HOUR_MS)
        assert _over_delivery(pump), days
        assert len(rig.step_times) - n <= cap + 3, days


def test_holds_of_a_week_or_five_weeks_end_without_a_false_over_delivery():
    for days in (7, 35):
        rig = Rig(fill_ul=20000, prescription=rx(10000))  # 1 mL/day
        pump = rig.pump
        rig.run(10 * HOUR_MS)
        rig.plant.jammed = True
        rig.run(HOUR_MS)
        assert pump.safety.alarms.is_active(al.A_MOTOR_STALL) and pump.safety.holding
        rig.run(days * DAY_MS)
        rig.plant.jammed = False
        assert pump.resume_after_alarm(now=rig.now) == 0
        n = len(rig.step_times)
        rig.run(2 * DAY_MS)
        assert len(rig.step_times) - n >= 9990, days  # dosing again at 5000 steps a day
        assert not _over_delivery(pump) and not pump.safety.holding, days


def test_a_halted_pump_keeps_its_clock_for_weeks():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    pump.halt()
    s0 = pump.mono.s
    for _ in range(21 * 24):  # it wakes hourly, and nothing else
        rig.clock.t_ms += HOUR_MS
        pump.tick(rig.now)
    assert pump.mono.s - s0 == 21 * 86400
