"""A wall clock the pump cannot vouch for (never set, or lost at a power cut) is said: an event, the low CLOCK_NOT_SET
alarm and the status (snapshot and console line) until a set-clock; it survives resets; and it changes no dose and
no limit (those run on the monotonic pump clock)."""

from pump import alarms as al
from pump import events as ev
from pump.calendar import days_from_civil
from pump.state import FLAG_CLOCK_UNSET
from pump.status import status_line
from support.plan import HOUR_MS
from support.rig import MONDAY_S, PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

RP2040_POWER_ON_S = days_from_civil(2021, 1, 1) * 86400  # what an RP2040's RTC reads after a power-on
SET_S = MONDAY_S + 9 * 3600


def _codes(rig):
    return [e[0] for e in rig.events()]


def test_a_first_boot_on_an_rtc_that_was_never_set_says_so_until_set_clock():
    rig = Rig(wall_s=RP2040_POWER_ON_S, fill_ul=20000, prescription=rx(4000))
    pump = rig.pump
    assert not pump.clock_known
    assert (ev.CLOCK_NOT_SET, ev.CLOCK_NEVER_SET, 0) in rig.events()
    assert pump.alarms.is_active(al.A_CLOCK_NOT_SET) and al.PRIORITY[al.A_CLOCK_NOT_SET] == al.PRIO_LOW
    pump.acknowledge(al.A_OCCLUSION_SENSING_UNAVAILABLE, rig.now)  # (the simulated board has no pressure sensor)
    assert pump.alarms.sounding(rig.now) == al.A_CLOCK_NOT_SET  # heard, not only shown
    s = pump.state(rig.now)
    assert not s.clock_known and s.flags == FLAG_CLOCK_UNSET  # the BLE status frame's flags say it too
    line = status_line(s)
    assert line.startswith("CLOCK NOT SET running") and "2021" not in line and " low in 4" in line
    pump.set_clock(SET_S, rig.now)
    assert pump.clock_known and not pump.alarms.is_active(al.A_CLOCK_NOT_SET)
    assert pump.state(rig.now).flags == 0
    assert status_line(pump.state(rig.now)).startswith("2026-08-03 09:00 UTC ")
    rig.boot()
    assert rig.pump.clock_known and not rig.pump.alarms.is_active(al.A_CLOCK_NOT_SET)


def test_an_rtc_that_lost_power_is_a_lost_clock_and_stays_so_across_resets_until_set():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    assert rig.pump.clock_known and ev.CLOCK_NOT_SET not in _codes(rig)
    rig.run(HOUR_MS)
    rig.pump.checkpoint(rig.now)
    rig.rtc.set_ms(RP2040_POWER_ON_S * 1000)  # a power cut: the RTC starts again from its reset value
    pump = rig.boot()
    assert not pump.clock_known and (ev.CLOCK_NOT_SET, ev.CLOCK_LOST, 0) in rig.events()
    assert pump.alarms.is_active(al.A_CLOCK_NOT_SET)
    assert pump.wall_s() >= MONDAY_S + 9 * 3600  # the pump goes on from its checkpoint, never from 2021
    pump = rig.boot()  # another reset before anyone set it: still not known, whatever the RTC reads now
    assert not pump.clock_known and (ev.CLOCK_NOT_SET, ev.CLOCK_STILL_UNSET, 0) in rig.events()
    pump.set_clock(SET_S + 3600, rig.now)
    assert pump.clock_known and not pump.alarms.is_active(al.A_CLOCK_NOT_SET)
    assert rig.boot().clock_known


def test_an_rtc_behind_the_checkpoint_is_lost_too_but_not_by_the_rounding_to_whole_seconds():
    rig = Rig(fill_ul=20000, prescription=rx(4000))
    rig.run(HOUR_MS + 500)
    rig.pump.checkpoint(rig.now)
    saved_ms = rig.pump.c.wall_s * 1000 + rig.pump.c.wall_rem_ms
    rig.rtc.set_ms(saved_ms - saved_ms % 1000)  # an RP2040's RTC holds whole seconds
    assert rig.boot().clock_known
    rig.pump.checkpoint(rig.now)
    rig.rtc.set_ms(rig.pump.c.wall_s * 1000 - 60000)  # a minute behind the last checkpoint: it stopped meanwhile
    assert not rig.boot().clock_known


def _session(wall_s):
    """Steps (ms after the program) and patient-bolus answers of a day with a bolus asked for every 30 min."""
    rig = Rig(wall_s=wall_s)
    pump = rig.pump
    pump.refill(20000, 10000, rig.now)
    pump.program(rx(4000, patient_bolus=PB), now=rig.now)
    t0 = rig.clock.t_ms
    answers = []
    for _ in range(48):
        rig.run(HOUR_MS // 2)
        try:
            pump.patient_bolus(rig.now)
            answers.append(0)
        except Exception as e:  # noqa: BLE001 - the refusal's code is the answer
            answers.append(e.code)
    windows = pump.safety.windows_saved()
    return [t - t0 for t in rig.step_times], answers, windows, pump.clock_known


def test_an_unknown_clock_changes_no_dose_and_no_limit():
    known = _session(MONDAY_S + 9 * 3600)
    unknown = _session(RP2040_POWER_ON_S)
    assert known[3] and not unknown[3]
    assert unknown[0] == known[0] and len(known[0]) > 2000  # every step at the same moment
    assert unknown[1] == known[1] and known[1].count(0) == 4  # lockout and daily maximum alike
    assert unknown[2] == known[2]  # the over-delivery windows alike
