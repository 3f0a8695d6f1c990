"""Safety holds survive resets: a reset (watchdog, brown-out, power cut) never releases a hold, only the resume
command does, once the sensors show the cause gone. Found by the long soak (verify/soak.py): a reset during a hold
used to resume dosing into an occluded line, on a jammed mechanism or at end of service.
"""

from pump import alarms as al
from pump.checkpoint import VERSION, unpack
from pump.store import Store
from support.plan import HOUR_MS
from support.rig import Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


_STALL = 1 << (al.A_MOTOR_STALL - 1)
_EOS = 1 << (al.A_BATTERY_EOS - 1)


def _stalled_rig():
    rig = Rig(fill_ul=20000, prescription=rx(10000))  # 1 mL/day: a step every 17.28 s
    rig.run(HOUR_MS)
    rig.plant.jammed = True
    rig.run(HOUR_MS)
    assert rig.pump.safety.holding == _STALL
    return rig


def test_a_stall_hold_survives_a_reset_and_ends_only_by_the_resume_command():
    rig = _stalled_rig()
    stored = Store(rig.storage, "state", VERSION).load(unpack)
    assert stored.latched == _STALL
    for _ in range(3):
        rig.boot()  # a reset while the mechanism is still jammed
        pump = rig.pump
        assert pump.safety.holding == _STALL
        assert pump.safety.alarms.is_active(al.A_MOTOR_STALL)
        assert not pump.plan.running
        steps = rig.plant.steps_forward
        rig.run(2 * HOUR_MS)
        assert rig.plant.steps_forward == steps  # no step while held, across the reset
    rig.plant.jammed = False
    assert rig.pump.resume_after_alarm() == 0
    steps = rig.plant.steps_forward
    rig.run(HOUR_MS)
    assert rig.plant.steps_forward - steps >= 200  # dosing again (208 steps an hour)
    rig.boot()
    assert rig.pump.safety.holding == 0 and rig.pump.plan.running  # the release was persisted too


def test_a_hold_released_while_suspended_stays_released_and_the_suspend_stays():
    rig = _stalled_rig()
    rig.pump.suspend()
    rig.plant.jammed = False
    assert rig.pump.resume_after_alarm() == 0
    rig.boot()
    assert rig.pump.safety.holding == 0 and rig.pump.suspended and not rig.pump.plan.running


def test_end_of_service_hold_survives_a_reset_until_a_fresh_cell_reads_above_eri():
    rig = Rig(fill_ul=20000, prescription=rx(10000))
    rig.hw.battery.set_percent(0)
    rig.run(6 * HOUR_MS)
    assert rig.pump.safety.holding & _EOS
    rig.boot()  # the same flat cell (the board rebuilds its battery role: make it read flat again)
    rig.hw.battery.set_percent(0)
    assert rig.pump.safety.holding & _EOS and not rig.pump.plan.running
    steps = rig.plant.steps_forward
    rig.run(4 * HOUR_MS)
    assert rig.plant.steps_forward == steps
    assert rig.pump.resume_after_alarm() & _EOS  # still flat: refused
    rig.boot()  # a new cell
    assert rig.pump.safety.holding & _EOS
    assert rig.pump.resume_after_alarm() == 0
    rig.run(HOUR_MS)
    assert rig.plant.steps_forward > steps
