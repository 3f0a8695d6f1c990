"""Steady-state dosing allocates nothing (MicroPython only): pump.tick, StepTimer.stepped and Reservoir.delivered run
under micropython.heap_lock(), where any allocation raises MemoryError; so do the monotonic clock and the windows on
it, in a clock-correction transition and at 34 years of pump time. The last test shows the harness catches one.
"""

from board.sim.clock import VirtualClock
from board.sim.plant import Plant
from board.sim.roles import SimEncoder
from pump.catheter import Catheter
from pump.compat import TICKS_MASK, ticks_add, ticks_diff
from pump.doseplan import DosePlan
from pump.monoclock import MonoClock
from pump.reservoir import Reservoir
from pump.steptimer import StepTimer, interval_for
from support.heap import micropython_or_skip, warm_pump
from support.plan import MONDAY_S, START, therapy

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_STEPS = 500  # 15 mL/day: 500 steps take 576 s, inside one checkpoint interval and far from any boundary


def _locked_wakes(mp, rig, wakes):
    """Wake `wakes` times at the controller's deadlines with the heap locked; MemoryError on any allocation."""
    clock = rig.clock
    tick = rig.pump.tick
    deadline = rig.pump.plan.next_deadline()
    i = 0
    mp.heap_lock()
    try:
        while i < wakes:
            clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
            deadline = tick(deadline)
            i += 1
    finally:
        mp.heap_unlock()
    return i


def test_pump_tick_allocates_nothing():
    mp = micropython_or_skip()
    rig = warm_pump()
    pump = rig.pump
    steps = pump.steps
    retimes = pump.plan.retimes
    writes = pump._state_store.writes
    t0 = rig.now
    assert _locked_wakes(mp, rig, _STEPS) == _STEPS
    assert pump.steps - steps == _STEPS  # every wake delivered one step: no sampling or boundary wake inside
    assert pump.plan.retimes == retimes and pump._state_store.writes == writes  # no boundary, no checkpoint inside
    assert ticks_diff(rig.now, t0) > 0 and rig.now < t0  # the window crossed the ticks wrap
    assert rig.plant.steps_forward == pump.steps


def test_pump_tick_allocates_nothing_in_a_clock_transition_at_34_years_of_pump_time():
    mp = micropython_or_skip()
    rig = warm_pump()
    pump = rig.pump
    last_s = (1 << 30) - 1  # the last small int: 34 years of pump time
    pump.mono.set_ms((last_s - 3600) * 1000, rig.now)  # the windows, the grants, the phases all follow it
    pump.set_clock(pump.wall_s(rig.now) + 180, now=rig.now)  # 3 min forward: two schedule phases for a day
    assert len(pump.plan.phases.shift_ms) == 1
    steps = pump.steps
    retimes = pump.plan.retimes
    assert _locked_wakes(mp, rig, _STEPS) == _STEPS
    assert pump.steps - steps == _STEPS and pump.plan.retimes == retimes
    assert last_s - 3600 + 570 < pump.mono.s < last_s  # every step counted at a small-int second
    assert pump.safety.hour_window.total >= 200 and not pump.safety.holding


def test_the_monotonic_clock_advances_without_allocating_across_the_wrap():
    mp = micropython_or_skip()
    now = TICKS_MASK - 5000
    clock = MonoClock(now, ((1 << 30) - 100) * 1000 + 999)
    i = 0
    mp.heap_lock()
    try:
        while i < 2000:
            now = ticks_add(now, 37)
            clock.advance(now)
            clock.advance(now - 1)  # a late caller moves nothing
            i += 1
    finally:
        mp.heap_unlock()
    assert (clock.s, clock.ms) == ((1 << 30) - 100 + 74, 999)  # 2000 x 37 ms


def test_steptimer_and_reservoir_allocate_nothing():
    mp = micropython_or_skip()
    t = StepTimer()
    t.set_interval(0x3FFFFFFF - 1000, interval_for(4000000000, 9973, 250))  # crosses the ticks wrap
    r = Reservoir(3000000, 500000)
    r.fill(40000000)
    changed = 0
    i = 0
    mp.heap_lock()
    try:
        while i < 20000:
            t.stepped()
            if r.delivered(2000):  # crosses low and empty inside the lock
                changed += 1
            i += 1
    finally:
        mp.heap_unlock()
    assert changed == 2
    assert r.remaining_nl == 0


def test_steps_through_a_stacked_catheter_queue_allocate_nothing():
    # Three old drugs in the catheter (two refills with a new strength): the plan's step path moves the queue with
    # every step; between segment ends (where the rate is computed afresh, cold path) it allocates nothing, and the
    # queue itself drains through every segment end, carry and undo without allocating.
    mp = micropython_or_skip()
    plan = DosePlan(200, 36000000, MONDAY_S, START)
    plan.set_therapy(START, therapy(((0, 15000000),), 1000), 20000)  # 15 mg/day: 0.75 mL/day at 20 mg/mL, 115.2 s
    plan.refill(START, 5000, 150000)
    plan.catheter.moved(20000)  # as if 100 steps had gone since
    plan.refill(START, 10000, 150000)
    assert [conc for _nl, conc in plan.catheter.segments()] == [20000, 5000]
    now = plan.next_deadline()
    got = [0, 0]
    mp.heap_lock()
    try:
        i = 0
        while i < 300:  # 300 steps of the first drug (650 of its 130 uL are left): no segment end in between
            got[0] += plan.take_due(now, 4)
            now = plan.next_deadline()
            i += 1
    finally:
        mp.heap_unlock()
    assert got[0] == 300 and plan.catheter.segments()[0] == (130000 - 300 * 200, 20000)
    catheter = Catheter()
    catheter.restore([(150, 20000), (250, 5000), (300, 10000), (1000, 2500)])
    ends = [0]
    mp.heap_lock()
    try:
        catheter.keep()
        i = 0
        while i < 10:
            if catheter.moved(200):
                ends[0] += 1
            i += 1
        catheter.undo()
        i = 0
        while i < 10:
            if catheter.moved(200):
                ends[0] += 1
            i += 1
    finally:
        mp.heap_unlock()
    assert ends[0] == 8 and catheter.n == 0 and catheter.old_nl == 0


def test_simulated_clock_and_encoder_read_without_allocating_across_the_wrap():
    # A board's ticks_ms() never allocates; the simulated clock must not either, even where start + t passes 2**30
    # (boxed on a 32-bit port: this failed on the webassembly port before the clock kept to small ints).
    mp = micropython_or_skip()
    clock = VirtualClock(TICKS_MASK - 10)
    plant = Plant()
    encoder = SimEncoder(plant)
    encoder._count = TICKS_MASK - 1  # the encoder's count wraps too
    seen = [0, 0, 0, 0]  # preallocated: only small ints are stored under the lock
    clock.t_ms = 5
    mp.heap_lock()
    try:
        seen[0] = clock.ticks_ms()
        clock.t_ms = 20
        seen[1] = clock.ticks_ms()
        plant.steps_forward = 3
        seen[2] = encoder.count()
    finally:
        mp.heap_unlock()
    seen[3] = VirtualClock(TICKS_MASK).ticks_ms()
    assert seen == [TICKS_MASK - 5, 9, 1, TICKS_MASK]


def test_heap_lock_catches_an_allocation():
    # The same harness with a step function that allocates (a list per call) must fail: the lock really bites.
    mp = micropython_or_skip()
    rig = warm_pump()
    driver = rig.hw.stepper.step_forward

    def allocating_step(n):
        driver(n)
        return [n]

    rig.pump._step = allocating_step
    caught = False
    try:
        _locked_wakes(mp, rig, 10)
    except MemoryError:
        caught = True
    assert caught
