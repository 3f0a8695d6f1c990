"""Watchdog policy: healthy only while every registered task checked in within its window (ticks wrap included), a
task that never checked in or stopped is named, and the feeder's calls allocate nothing."""

from pump.compat import TICKS_MASK, ticks_add
from pump.errors import E_RANGE, PumpError
from pump.supervisor import MAX_TASKS, Supervisor
from support import SkipTest, raises

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

T0 = TICKS_MASK - 5000  # five seconds before the ticks wrap
DOSING, TELEMETRY, HOUSEKEEPING = 1, 2, 3


class _Watchdog:
    """A hardware watchdog: bites when not fed for timeout_ms."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.fed_at = 0
        self.bitten_at = None

    def at(self, t_ms, fed):
        if self.bitten_at is None and t_ms - self.fed_at > self.timeout_ms:
            self.bitten_at = self.fed_at + self.timeout_ms
        if fed:
            self.fed_at = t_ms


def test_empty_supervisor_is_healthy():
    s = Supervisor()
    assert s.healthy(T0) and s.overdue(T0) == -1 and s.registered == 0


def test_a_registered_task_that_never_checked_in_is_unhealthy():
    s = Supervisor()
    s.register(DOSING, 5000)
    assert not s.healthy(T0) and s.overdue(T0) == DOSING
    s.checkin(DOSING, T0)
    assert s.healthy(T0)
    s.register(TELEMETRY, 5000, now=T0)  # with `now`: counts as its first check-in
    assert s.healthy(T0) and s.registered == (1 << DOSING) | (1 << TELEMETRY)


def test_every_task_must_check_in_within_its_window_across_the_wrap():
    s = Supervisor()
    s.register(DOSING, 3000, T0)
    s.register(HOUSEKEEPING, 8000, T0)
    t = ticks_add(T0, 3000)
    assert s.healthy(t)  # exactly at the limit
    t = ticks_add(T0, 3001)
    assert not s.healthy(t) and s.overdue(t) == DOSING
    s.checkin(DOSING, t)  # after the wrap
    assert s.healthy(t)
    t2 = ticks_add(T0, 8001)
    s.checkin(DOSING, t2)
    assert s.overdue(t2) == HOUSEKEEPING
    s.unregister(HOUSEKEEPING)
    assert s.healthy(t2)


def test_a_check_in_from_far_in_the_future_is_suspect():
    s = Supervisor()
    s.register(DOSING, 1000)
    s.checkin(DOSING, ticks_add(T0, 500))  # a little ahead (a deadline used as now): fine
    assert s.healthy(T0)
    s.checkin(DOSING, ticks_add(T0, 1500))
    assert not s.healthy(T0)


def test_watchdog_fed_only_while_healthy_bites_after_a_task_stops():
    # the dosing task wakes every 1.15 s, housekeeping feeds every second; dosing dies at 60 s
    s = Supervisor()
    s.register(DOSING, 5000, T0)
    s.register(HOUSEKEEPING, 3000, T0)
    wdt = _Watchdog(8000)
    next_dose = 0
    for t in range(0, 120000, 50):
        now = ticks_add(T0, t)
        if t >= next_dose and t < 60000:
            s.checkin(DOSING, now)
            next_dose += 1150
        if t % 1000 == 0:
            s.checkin(HOUSEKEEPING, now)
            wdt.at(t, s.healthy(now))
    assert wdt.bitten_at is not None
    # last dosing check-in at 59800 ms: unhealthy from 64800 ms on, the last feed at 64000 ms, the bite at 72000 ms
    assert wdt.bitten_at == 72000


def test_bad_registrations_are_refused():
    s = Supervisor()
    for task_id, ms in ((-1, 1000), (MAX_TASKS, 1000), (1, 0), (1, 1 << 29), ("a", 1000)):
        with raises(PumpError) as e:
            s.register(task_id, ms)
        assert e.value.code == E_RANGE
    assert s.registered == 0


def test_checkin_and_healthy_allocate_nothing():
    try:
        import micropython
    except ImportError:
        raise SkipTest("no heap lock on CPython")
    s = Supervisor()
    for task in range(MAX_TASKS):
        s.register(task, 2000, T0)
    ok = 0
    t = 0
    now = T0
    micropython.heap_lock()
    try:
        while t < 20000:  # round robin, one check-in every 100 ms: each task every 1.6 s; task 5 stops at 10 s
            now = ticks_add(T0, t)
            task = t // 100 % MAX_TASKS
            if task != 5 or t < 10000:
                s.checkin(task, now)
            if s.healthy(now):
                ok += 1
            t += 100
    finally:
        micropython.heap_unlock()
    # task 5 last checked in at 8.5 s: healthy up to 10.5 s (106 samples), then never again
    assert ok == 106 and s.overdue(now) == 5
