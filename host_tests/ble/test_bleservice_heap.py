"""BLE status notifications allocate nothing (MicroPython only): with a phone connected, every wake of the dosing
cycle followed by the BLE task's run (status snapshot, change check, framing, CRC, notify, the readable value) runs
under micropython.heap_lock(), where any allocation raises MemoryError; gc.mem_alloc() counts the same 0 bytes.
"""

from pump.compat import ticks_diff
from support.blebench import Bench
from support.heap import micropython_or_skip, warm_pump

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


_WAKES = 300  # 345 s at 15 mL/day: one step and one status change per wake, inside the warm-up's quiet window


def _bench():
    rig = warm_pump()  # 15 mL/day: a step every 1.152 s, warmed past the hourly sampling
    bench = Bench(rig=rig)
    bench.connect()
    for _ in range(3):  # every path of a status notification has run once
        _wake(bench)
    bench.radio.record = False  # the fake radio only counts from here: the service is what is measured
    return bench


def _wake(bench):
    rig = bench.rig
    clock = rig.clock
    deadline = rig.pump.plan.next_deadline()
    clock.t_ms += ticks_diff(deadline, clock.ticks_ms())
    rig.pump.tick(deadline)
    bench.svc.run(deadline)


def _locked(mp, bench, wakes):
    i = 0
    mp.heap_lock()
    try:
        while i < wakes:
            _wake(bench)
            i += 1
    finally:
        mp.heap_unlock()
    return i


def test_status_notifications_allocate_nothing():
    mp = micropython_or_skip()
    bench = _bench()
    radio = bench.radio
    steps = bench.rig.pump.steps
    notifies, indications = radio.notifies, radio.indications
    assert _locked(mp, bench, _WAKES) == _WAKES
    assert bench.rig.pump.steps - steps == _WAKES
    assert radio.notifies - notifies == 4 * _WAKES  # every wake changed the status: four sealed frames each at MTU 23
    assert radio.indications == indications


def test_bytes_allocated_per_status_notification_is_zero():
    mp = micropython_or_skip()
    import gc

    bench = _bench()
    notifies = bench.radio.notifies
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(50):
            _wake(bench)
        allocated = gc.mem_alloc() - before
    finally:
        gc.enable()
    assert bench.radio.notifies - notifies == 200
    assert allocated == 0, "%d bytes for 50 status notifications" % allocated
    assert mp is not None


def test_the_harness_catches_an_allocating_radio():
    mp = micropython_or_skip()
    bench = _bench()
    radio = bench.radio

    def allocating_notify(conn, handle, data=None):
        radio.notifies += 1
        return [conn]

    radio.gatts_notify = allocating_notify
    caught = False
    try:
        _locked(mp, bench, 5)
    except MemoryError:
        caught = True
    assert caught
