"""The pump's state in one place (pump.state): the console status line and the BLE status frame are both made from
the same snapshot, so they never disagree: a stalled pump is held on both, a halted one halted on both, and every
number the line shows is the frame's."""

from pump.alarms import A_MOTOR_STALL, NAME
from pump.app import TASK_DOSING
from pump.calendar import iso_date
from pump.state import STATE_HALTED, STATE_HELD, STATE_NAMES, STATE_RUNNING
from pump.status import status_line
from support.blebench import Bench
from support.plan import HOUR_MS
from support.rig import PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _seen(bench):
    """(the console line, the BLE status frame) at the bench's time, a second after the last notification."""
    bench.rig.clock.t_ms += 1000  # the status is notified at most once a second
    bench.run()
    return status_line(bench.rig.pump.state(bench.now)), bench.status()


def test_a_stalled_pump_reads_held_on_the_console_and_over_ble():
    b = Bench()
    b.connect()
    line, frame = _seen(b)
    assert line.split()[3] == "running" and frame[2] == STATE_RUNNING
    b.rig.plant.jammed = True  # the mechanism stops moving; the encoder sees it within a few steps
    b.rig.run(HOUR_MS)
    assert b.rig.pump.alarms.is_active(A_MOTOR_STALL)
    line, frame = _seen(b)
    assert line.split()[3] == "held" and frame[2] == STATE_HELD
    assert line.endswith(" ALARM %s" % NAME[A_MOTOR_STALL])
    assert b.rig.pump.state_name == "held"


def test_a_halted_pump_reads_halted_on_the_console_and_over_ble():
    b = Bench()
    b.connect()
    b.rig.run(HOUR_MS)
    b.rig.pump.fault(TASK_DOSING, 0)  # a task fault: the motor is off until a reset
    line, frame = _seen(b)
    assert line.split()[3] == "halted" and frame[2] == STATE_HALTED
    assert b.rig.pump.state_name == STATE_NAMES[STATE_HALTED]


def test_the_console_line_shows_the_numbers_of_the_ble_frame():
    b = Bench(rig=Rig(fill_ul=20000, prescription=rx(4000, patient_bolus=PB)))
    b.connect()
    b.rig.run(5 * HOUR_MS)
    line, frame = _seen(b)
    t_s, _mode, state, rate, today, total, res_nl, empty_day, _battery, _alarms, _pressure, eri_day, flags = frame
    words = line.split()
    # 2026-08-03 13:00 UTC running rate 400.0 uL/day today 83 uL total 83 uL res 19916 uL ok low 2026-09-10 ...
    assert words[0] == iso_date(t_s // 86400) and words[1] == "%02d:%02d" % (t_s // 3600 % 24, t_s // 60 % 60)
    assert words[2] == "UTC" and words[3] == STATE_NAMES[state]
    words = words[1:]  # (the zone)
    assert words[4] == "%d.%d" % (rate // 1000, rate // 100 % 10) and rate == 400000
    assert (int(words[7]), int(words[10]), int(words[13])) == (today // 1000, total, res_nl // 1000)
    assert today > 0 and words[18:20] == ["empty", iso_date(empty_day)]  # the frame's empty_day is the empty date
    s = b.rig.pump.state(b.now)
    assert s.eri_days is not None and eri_day == t_s // 86400 + s.eri_days  # the battery forecast's date
    assert flags == 0 and s.clock_known  # a set clock
    assert (s.low_days, s.empty_days) == (38, 44)  # 440 uL a day at worst: 16.9 mL above low, 19.4 mL above empty
    # the recommended refill date is the low date (pump.reservoir.REFILL_RULE), in the line's own words
    assert s.refill_days == s.low_days and words[16:18] == ["low", words[21]] and words[20] == "refill"
