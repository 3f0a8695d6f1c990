"""The pump keeps UTC; a schedule's times of day are the patient's local time (config utc_offset_min): the
calendar places the schedule at UTC + offset, while the RTC, the event log, the status and set-clock stay in UTC."""

from pump import events as ev
from pump.calendar import Calendar
from pump.config import PumpConfig
from pump.errors import E_RANGE, PumpError
from pump.status import status_line
from support import raises
from support.rig import MONDAY_S, Rig

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

NEW_YORK = -300  # EST, UTC-5
FLEX = {"drug": {"name": "morphine", "concentration_ug_per_ml": 10000},
        "therapy": {"mode": "flex", "steps": [{"start": "00:00", "dose_ug_per_day": 2000},
                                              {"start": "08:00", "dose_ug_per_day": 6000}]}}


def test_the_calendar_is_local_and_its_wall_times_utc():
    cal = Calendar(MONDAY_S + 12 * 3600, 0, NEW_YORK * 60)  # 12:00 UTC: 07:00 in New York
    assert (cal.day, cal.ms_of_day, cal.weekday) == (MONDAY_S // 86400, 7 * 3600000, 0)
    assert cal.wall_s_at(0) == cal.wall_s() == MONDAY_S + 12 * 3600 and cal.wall_ms_at(0) == (MONDAY_S + 43200) * 1000
    east = Calendar(MONDAY_S + 22 * 3600, 0, 540 * 60)  # Tokyo 9 h ahead: 22:00 UTC is Tuesday 07:00
    assert (east.day, east.ms_of_day, east.weekday) == (MONDAY_S // 86400 + 1, 7 * 3600000, 1)
    assert east.wall_s_at(0) == MONDAY_S + 22 * 3600
    assert Calendar(0, 0, NEW_YORK * 60).day == 0  # a clock at 2000-01-01 west of UTC: no day before 2000


def _rig(offset_min):
    rig = Rig(pump_config={"utc_offset_min": offset_min}, wall_s=MONDAY_S + 12 * 3600, fill_ul=20000,
              prescription=FLEX)
    return rig, rig.pump


def _rate(pump):
    return pump.plan.rate_num // pump.plan.rate_den


def test_the_schedule_follows_the_patients_local_time():
    rig, pump = _rig(NEW_YORK)
    assert _rate(pump) == 200000  # 07:00 in New York: the night rate
    rig.run(59 * 60000)
    assert _rate(pump) == 200000
    rig.run(2 * 60000)  # 13:00 UTC is 08:00 in New York
    assert _rate(pump) == 600000
    utc, utc_pump = _rig(0)  # the same instant with the schedule on UTC: already the day rate
    assert _rate(utc_pump) == 600000


def test_the_log_the_status_and_set_clock_stay_in_utc():
    rig, pump = _rig(NEW_YORK)
    assert pump.wall_s(rig.now) == MONDAY_S + 12 * 3600
    assert list(pump.log.read())[-1][1] == MONDAY_S + 12 * 3600  # the event log's time
    s = pump.state(rig.now)
    assert s.t_s == MONDAY_S + 12 * 3600 and s.ms_of_day == 7 * 3600000
    assert status_line(s).startswith("2026-08-03 12:00 UTC ")
    pump.set_clock(MONDAY_S + 12 * 3600 + 60, rig.now)  # a minute forward, in UTC
    assert pump.wall_s(rig.now) == MONDAY_S + 12 * 3600 + 60
    assert [r for r in pump.log.read() if r[2] == ev.CLOCK_SET][-1][3] == 60
    rig.pump.checkpoint(rig.now)
    assert rig.boot().wall_s(rig.now) == MONDAY_S + 12 * 3600 + 60  # the RTC and the checkpoint hold UTC


def test_the_offset_is_checked():
    assert PumpConfig({"utc_offset_min": 840}).utc_offset_min == 840
    assert PumpConfig({"utc_offset_min": 345}).utc_offset_min == 345  # Nepal
    for bad in (-721, 841, 7, 1.5):
        with raises(PumpError) as e:
            PumpConfig({"utc_offset_min": bad})
        assert e.value.code in (E_RANGE, 100) and "utc_offset_min" in e.value.detail
