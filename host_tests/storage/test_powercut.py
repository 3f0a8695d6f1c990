"""Power cut at every byte a command or checkpoint writes, then a reset: the state always loads, the therapy is the old
or the new one (never half), at most one checkpoint interval of accounting is lost, and the restarted pump delivers
exactly its program from a whole step after the reset: never more, no catch-up bolus.
"""

from support.flash import PowerCut
from pump import events as ev
from pump.errors import E_LOCKOUT, PumpError
from pump.reservoir import STATE_LOW
from pump.therapy import MODE_STOPPED

from support import raises
from support.plan import MONDAY_S
from support.rig import PB, Rig, rx

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_MIN_MS = 60000
_NL = 200
_DOSE_UG = 12000  # 1.2 mL/day at 10 mg/mL: 14.4 s per step
_CKPT_S = 900
_RUN_AFTER_MS = 30 * _MIN_MS
_MAX_LOST_STEPS = _CKPT_S * 1000 // 14400 + 1 + 16  # one checkpoint interval of steps, plus one wake's batch


def _baseline(fill_ul=20000, prescription=None, run_ms=3600000):
    """Storage of a pump that was filled, programmed and ran an hour, and the wall time (s) at that point."""
    rig = Rig(fill_ul=fill_ul, prescription=prescription or rx(_DOSE_UG, patient_bolus=PB))
    rig.run(run_ms)
    rig.pump.checkpoint(rig.now)
    return rig.storage.clone(), rig.rtc.now_ms() // 1000


def _rate_nl_per_day(pump):
    """Volume rate (num, den) the restored state calls for, computed from the state itself (no bolus survives)."""
    th = pump.therapy
    c = pump.c
    if pump.suspended or th is None or th.mode == MODE_STOPPED:
        return 0, 1
    conc = c.catheter[0][1] if c.catheter else c.conc_ug_per_ml
    return th.daily[0][1] * 1000, conc


def _cut_everywhere(storage0, wall_s, command, extra_check=None, pre_ms=10 * _MIN_MS):
    """For every byte n the command writes: cut after n bytes, reset, and check the restarted pump."""

    def prepare():
        rig = Rig(storage=storage0.clone(), wall_s=wall_s)
        rig.run(pre_ms)  # steps since the boot, none checkpointed yet
        return rig

    dry = prepare()
    remaining0 = Rig(storage=storage0.clone(), wall_s=wall_s).pump.reservoir.remaining_nl  # as checkpointed
    old = dry.pump.therapy
    b0 = dry.storage.bytes_written
    command(dry)
    total = dry.storage.bytes_written - b0
    new = dry.pump.therapy
    new_fill = dry.pump.reservoir.fill_nl
    assert total > 0
    for n in range(total):
        rig = prepare()
        rig.storage.cut_after(n)
        with raises(PowerCut):
            command(rig)
        true_remaining = remaining0 - len(rig.step_times) * _NL  # what really is left (no refill yet)
        rig.storage.power_on()
        rig.clock.t_ms += 1000
        pump = rig.boot()
        # the state loads and the program is whole: the old one or the new one
        assert pump._state_store.load() is not None, n
        assert pump.therapy == old or pump.therapy == new, n
        assert ev.PROGRAM_REJECTED not in [e[0] for e in rig.events()], n
        assert rig.events()[-1][0] == ev.BOOT
        # accounting: off from the truth by at most one checkpoint interval of steps, either way
        restored = pump.reservoir.remaining_nl
        if pump.reservoir.fill_nl != new_fill or restored < new_fill:
            assert abs(restored - true_remaining) <= _MAX_LOST_STEPS * _NL, (n, restored, true_remaining)
        # from the reset on: exactly the program, the first step a whole interval after the reset
        steps = len(rig.step_times)
        t = rig.clock.t_ms
        rig.run(_RUN_AFTER_MS)
        num, den = _rate_nl_per_day(pump)
        assert len(rig.step_times) - steps == _RUN_AFTER_MS * num // (den * _NL * 86400000), n
        if rig.step_times[steps:]:
            assert rig.step_times[steps] - t >= 86400000 * _NL * den // num, n
        if extra_check is not None:
            extra_check(rig, n)
    return total


def test_cut_while_programming():
    storage, wall = _baseline()
    total = _cut_everywhere(storage, wall, lambda rig: rig.pump.program(rx(6000), now=rig.now))
    assert total > 100  # the program record, an event and a checkpoint


def test_cut_while_refilling_with_a_new_concentration():
    storage, wall = _baseline()

    def check(rig, n):
        p = rig.pump
        # a refill is all or nothing for the reservoir: old volume and drug, or new volume (and maybe new program)
        if p.reservoir.fill_nl == 30000000:
            assert p.plan.conc_ug_per_ml == 20000 and p.therapy.conc_ug_per_ml == 20000
            assert p.plan.catheter.segments() == [(150000, 10000)]
        else:
            assert p.plan.conc_ug_per_ml == 10000

    _cut_everywhere(storage, wall, lambda rig: rig.pump.refill(30000, 20000, now=rig.now), check)


def test_cut_while_stacking_a_second_refill_during_a_bridge():
    # 10 mg/mL in the catheter, refilled with 20 an hour before: 58 uL of the new drug entered behind the old one.
    # Refilled again with 5 mg/mL: the queue holds both old drugs, tip first, or (old state) just the first.
    rig = Rig(fill_ul=20000, prescription=rx(_DOSE_UG, patient_bolus=PB))
    rig.run(3600000)
    rig.pump.refill(30000, 20000, now=rig.now)
    rig.run(3600000 - 10 * _MIN_MS)
    rig.pump.checkpoint(rig.now)
    storage, wall = rig.storage.clone(), rig.rtc.now_ms() // 1000

    def check(rig, n):
        p = rig.pump
        segments = p.plan.catheter.segments()
        assert segments[0][1] == 10000 and p.plan.catheter.old_nl <= 150000, n
        if p.reservoir.fill_nl == 25000000:
            assert p.plan.conc_ug_per_ml == 5000 and p.therapy.conc_ug_per_ml == 5000, n
            assert [conc for _nl, conc in segments] == [10000, 20000], n
        else:
            assert p.plan.conc_ug_per_ml == 20000 and len(segments) == 1, n

    _cut_everywhere(storage, wall, lambda rig: rig.pump.refill(25000, 5000, now=rig.now), check)


def test_cut_while_granting_a_patient_bolus():
    storage, wall = _baseline()

    def check(rig, n):
        assert len(rig.pump.policy.grants_mono_s) <= 1
        assert rig.pump.plan.boluses == []  # a bolus in progress does not survive a reset

    _cut_everywhere(storage, wall, lambda rig: rig.pump.patient_bolus(now=rig.now), check)


def test_cut_while_suspending_and_resuming():
    storage, wall = _baseline()
    _cut_everywhere(storage, wall, lambda rig: rig.pump.suspend(now=rig.now))

    def suspend_resume(rig):
        rig.pump.suspend(now=rig.now)
        rig.clock.t_ms += 60000
        rig.pump.resume(now=rig.now)

    _cut_everywhere(storage, wall, suspend_resume)


def test_cut_while_stopping():
    storage, wall = _baseline()
    _cut_everywhere(storage, wall, lambda rig: rig.pump.stop(now=rig.now))


def test_cut_while_setting_the_clock():
    storage, wall = _baseline()
    _cut_everywhere(storage, wall, lambda rig: rig.pump.set_clock(wall + 7200, now=rig.now))


def test_cut_while_setting_the_clock_never_moves_the_safety_limits():
    # the new time is saved, marked, before the RTC is written: a reset between the two must not take the RTC's
    # time for time gone by (a day forward, or the old time after a day back, would end a lockout at once)
    rig = Rig(fill_ul=20000, prescription=rx(_DOSE_UG, patient_bolus=PB))
    rig.run(3600000)
    rig.pump.patient_bolus(now=rig.now)  # its lockout (2 h) runs past every check below
    rig.run(_MIN_MS)
    rig.pump.checkpoint(rig.now)
    storage, wall = rig.storage.clone(), rig.rtc.now_ms() // 1000
    grant_s = rig.pump.policy.grants_mono_s[-1]

    for shift_s in (86400, -86400):

        def check(rig, n, shift_s=shift_s):
            pump = rig.pump
            assert pump.mono.s - grant_s < 2 * 3600, n  # about 41 min went by, as the pump counts
            with raises(PumpError) as e:
                pump.patient_bolus(now=rig.now)
            assert e.value.code == E_LOCKOUT, n
            # the old time, 40 min on; or the new one (set 10 min in), 30 min on
            got = pump.wall_s(rig.now)
            assert abs(got - (wall + 40 * 60)) < 60 or abs(got - (wall + shift_s + 30 * 60)) < 60, n

        _cut_everywhere(storage, wall, lambda rig, s=shift_s: rig.pump.set_clock(wall + s, now=rig.now), check)


def test_cut_during_a_periodic_checkpoint():
    storage, wall = _baseline()

    def to_checkpoint(rig):
        writes = rig.pump._state_store.writes
        rig.run(6 * _MIN_MS)  # the first checkpoint after the boot comes 15 min after it
        assert rig.pump._state_store.writes == writes + 1

    _cut_everywhere(storage, wall, to_checkpoint)


def test_cut_while_logging_the_low_reservoir():
    # 3.1 mL in: the low level (3 mL) is crossed 500 steps in; the crossing logs an event and the alarm it raises,
    # and checkpoints at once
    storage, wall = _baseline(fill_ul=3100, run_ms=60000)

    def to_low(rig):
        appends = rig.storage.appends
        rig.run(3 * 3600000)
        assert rig.pump.reservoir.state == STATE_LOW
        assert rig.storage.appends == appends + 2

    _cut_everywhere(storage, wall, to_low)


def test_repeated_resets_still_persist_the_accounting():
    # a pump that resets more often than the checkpoint interval (a crash loop, the watchdog) must still persist
    # what it delivers, or the reservoir estimate would stay where it was and low/empty would never come
    storage, wall = _baseline()
    rig = Rig(storage=storage, wall_s=wall)
    remaining0 = rig.pump.reservoir.remaining_nl
    for _ in range(10):
        rig.run(10 * _MIN_MS)
        rig.clock.t_ms += 1000
        rig.boot()  # reset without a checkpoint
    delivered_nl = len(rig.step_times) * _NL
    assert delivered_nl > 400 * _NL
    assert remaining0 - rig.pump.reservoir.remaining_nl >= delivered_nl - _MAX_LOST_STEPS * _NL


def test_wall_clock_never_runs_backwards_after_a_reset():
    storage, wall = _baseline()
    rig = Rig(storage=storage, wall_s=wall - 3 * 86400)  # the RTC lost three days
    assert rig.pump.wall_s(rig.now) == wall
    assert rig.pump.plan.cal.day == (wall) // 86400
    assert wall // 86400 == MONDAY_S // 86400
