"""The battery forecast (pump.forecast): the duty priced by docs/battery.md's model, days to elective replacement and
end of service from the reading, the measured day replacing the program's plan, said where it cannot be computed; and
the program check: a program that brings ERI within 90 days (or allows no 90-day warning) is refused with E600 and
changes nothing unless confirmed, which is logged; a stop is never refused."""

from pump import events as ev
from pump.alarms import A_OCCLUSION, A_RESERVOIR_LOW, PRIO_HIGH, PRIO_LOW, PRIO_MEDIUM
from pump.battery import (CAPACITY_UAH, FIXED_UAH_PER_DAY, STATE_OK, BatteryMonitor, daily_uah, dod_at,
                          max_steps_per_day, thresholds)
from pump.errors import E_BATTERY_ERI, PumpError
from pump.forecast import (ALARM_UA, REASON_NO_READING, REASON_OK, REASON_SENSOR_FAULT, BatteryForecast, alarm_ua,
                           days_left, duty_uah)
from pump.status import status_line
from support import raises
from support.plan import HOUR_MS
from support.rig import Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

DAY_MS = 24 * HOUR_MS
FAST = rx(15000, conc=1000)  # 15 mL/day: 75,000 steps a day of 200 nL


def test_the_duty_is_priced_by_the_model():
    assert duty_uah(0, 0, 0, 0) == FIXED_UAH_PER_DAY == daily_uah(0)  # the model's hour of radio at least
    assert duty_uah(5000, 0, 0, 0) == daily_uah(5000) == FIXED_UAH_PER_DAY + 1000
    assert duty_uah(0, 0, 0, 7200) == FIXED_UAH_PER_DAY + 300  # a second hour connected
    assert duty_uah(0, 1000, 0, 0) == FIXED_UAH_PER_DAY + 1  # a thousand sensor reads: 1 µAh
    assert duty_uah(0, 0, 24 * ALARM_UA[PRIO_HIGH], 0) - FIXED_UAH_PER_DAY == 25728  # the EOS reserve's alarm day
    # the pattern's share of the tone: high 750 ms per 10 s, medium 600 ms per 20 s, low 500 ms per minute
    assert (ALARM_UA[PRIO_HIGH], ALARM_UA[PRIO_MEDIUM], ALARM_UA[PRIO_LOW]) == (1072, 429, 119)
    assert alarm_ua(A_OCCLUSION) == 1072 and alarm_ua(A_RESERVOIR_LOW) == 429 and alarm_ua(0) == 0
    assert duty_uah(5000000, 10000000, 24 * 1072, 86400) < 1 << 30  # small ints at any plausible day


def test_days_left_from_a_fresh_cell_match_the_battery_docs_life():
    # docs/battery.md: 1323 days to the earliest EOS at rest; the forecast aims at the nominal EOS, a little later
    eri_mv, eos_mv = thresholds(0)
    days = days_left(0, dod_at(eos_mv), daily_uah(0))
    assert 1323 <= days <= 1323 * 102 // 100
    assert days_left(dod_at(eos_mv), dod_at(eos_mv), 1620) == 0 and days_left(900000, 10, 1620) == 0
    assert days_left(0, 1000000, 1) == 65534  # capped at what a u16 shows
    assert (1000000 // 100) * (CAPACITY_UAH // 10000) < 1 << 30


def test_the_forecast_follows_the_reading_and_says_when_it_cannot():
    f = BatteryForecast()
    m = BatteryMonitor(*thresholds(0))
    f.update(0, m)
    assert (f.eri_days, f.eos_days, f.reason) == (None, None, REASON_NO_READING)
    f.update(3150, m)
    assert f.reason == REASON_OK and 0 < f.eri_days < f.eos_days
    fresh = f.eri_days
    f.update(3150, m, REASON_SENSOR_FAULT)
    assert (f.eri_days, f.eos_days, f.reason) == (None, None, REASON_SENSOR_FAULT)
    f.update(2900, m)  # 80 % used: sooner
    near = f.eri_days
    assert near < fresh
    f.plan(20000)  # a faster program's plan, before any day is measured
    f.update(2900, m)
    fast = f.eri_days
    assert fast < near and not f.measured
    f.day_measured(0, 24, 0, 0)
    f.plan(20000)  # a measured day wins over the plan from now on
    f.update(2900, m)
    assert f.measured and f.uah_per_day == FIXED_UAH_PER_DAY + 1 and f.eri_days > fast  # (24 reads: 1 µAh)
    m.state = STATE_OK + 1  # ERI already raised
    f.update(2900, m)
    assert f.eri_days == 0 and f.eos_days > 0


def test_a_pump_shows_its_forecast_in_its_state_and_console_line():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    s = rig.pump.state(rig.now)
    assert s.battery_reason == REASON_OK and 365 < s.eri_days < s.eos_days and not s.battery_short
    line = status_line(s)
    assert " eri 20" in line and " eos 20" in line
    rig.run(3 * DAY_MS)  # two whole days measured at midnight: the day's steps, reads and alarms priced
    f = rig.pump.forecast
    assert f.measured and f.uah_per_day == duty_uah(2000, 24, 24 * ALARM_UA[PRIO_LOW], 0)  # 0.4 mL/day
    rig.hw.battery.fault = "open"
    rig.run(6 * HOUR_MS)
    s = rig.pump.state(rig.now)
    assert s.eri_days is None and s.battery_reason == REASON_SENSOR_FAULT
    assert " battery battery-sensor-fault" in status_line(s)


def _fresh():
    rig = Rig(fill_ul=40000)
    rig.pump.refill(40000, 1000, rig.now)
    return rig, rig.pump


def test_a_program_bringing_replacement_within_90_days_is_refused_and_changes_nothing():
    rig, pump = _fresh()
    seq = pump.log.last_seq
    with raises(PumpError) as e:
        pump.program(FAST, now=rig.now)
    assert e.value.code == E_BATTERY_ERI and "elective replacement in " in e.value.detail
    assert pump.therapy is None and not pump.plan.running
    assert [r[2:4] for r in pump.log.read(seq + 1)] == [(ev.PROGRAM_REJECTED, E_BATTERY_ERI)]
    pump.program(FAST, now=rig.now, confirm_battery=True)
    assert pump.plan.running
    confirmed = [r for r in pump.log.read(seq + 1) if r[2] == ev.BATTERY_CONFIRMED]
    assert len(confirmed) == 1 and 0 < confirmed[0][3] < 90 and confirmed[0][4] == E_BATTERY_ERI
    assert confirmed[0][3] == pump.forecast.eri_days  # what the status shows from then on


def test_a_program_allowing_no_90_day_warning_is_refused_unless_confirmed_and_then_said():
    rig, pump = _fresh()
    assert max_steps_per_day() < 95000
    too_fast = rx(19000, conc=1000, confirm_soft_limits=True)  # 19 mL/day: 95,000 steps, under the hard maximum
    with raises(PumpError) as e:
        pump.program(too_fast, now=rig.now)
    assert e.value.code == E_BATTERY_ERI and "no 90-day replacement warning" in e.value.detail
    pump.program(too_fast, now=rig.now, confirm_battery=True)
    assert [r[3] for r in pump.log.read() if r[2] == ev.BATTERY_CONFIRMED] == [-1]
    s = pump.state(rig.now)
    assert s.battery_short and "no-90-day-warning" in status_line(s)
    assert (pump.safety.battery.eri_mv, pump.safety.battery.eos_mv) == thresholds(max_steps_per_day())


def test_an_old_cell_refuses_even_a_modest_program_and_a_stop_is_never_refused():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    rig.hw.battery.set_percent(12)
    rig.run(2 * HOUR_MS)  # the hourly reading sees it
    assert pump.forecast.eri_days < 90
    with raises(PumpError) as e:
        pump.program(rx(5000), now=rig.now)
    assert e.value.code == E_BATTERY_ERI
    pump.stop(rig.now)  # stopping therapy is never held up by the battery
    assert pump.therapy.mode == 0


def test_without_a_trusted_reading_the_program_runs_and_its_answer_says_no_forecast():
    rig = Rig(fill_ul=40000)
    pump = rig.pump
    rig.hw.battery.fault = "open"
    for _ in range(6):  # hourly wakes without a program: the sensor check's verdict after a few readings
        rig.clock.t_ms += HOUR_MS
        pump.tick(rig.now)
    pump.refill(40000, 1000, rig.now)
    pump.program(FAST, now=rig.now)  # thresholds exist at this rate; no reading to date them by
    assert pump.plan.running and pump.forecast.eri_days is None
    assert pump.forecast.reason == REASON_SENSOR_FAULT
    assert not [r for r in pump.log.read() if r[2] == ev.BATTERY_CONFIRMED]


def test_the_daily_recomputation_allocates_nothing():
    # it runs inside tick at midnight and at the sampling cadence: small ints only, on both word sizes
    from support.heap import micropython_or_skip

    mp = micropython_or_skip()
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    pump._forecast()  # (warm: the snapshot computes its big-int parts when their input changes, not here)
    pump.state(rig.now)
    mp.heap_lock()
    try:
        pump.forecast.day_measured(5000000, 10000000, 24 * 1072, 86400)
        pump._forecast()
        pump.state(rig.now)
    finally:
        mp.heap_unlock()
    assert pump.forecast.measured and pump.forecast.eri_days is not None
