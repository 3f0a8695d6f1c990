"""Reservoir: every delivered nL accounted, low and empty crossings reported exactly once, projected days."""

from pump.reservoir import STATE_EMPTY, STATE_LOW, STATE_OK, Reservoir

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_LOW = 3000000
_EMPTY = 500000


def test_fresh_reservoir_is_empty():
    r = Reservoir(_LOW, _EMPTY)
    assert r.state == STATE_EMPTY
    assert r.remaining_nl == 0 and r.remaining_ul == 0


def test_fill_and_deliver_reports_each_crossing_once():
    r = Reservoir(_LOW, _EMPTY)
    r.fill(4000000)
    assert r.state == STATE_OK and r.fill_nl == 4000000
    changes = []
    delivered = 0
    while delivered < 4000000 + 200000:
        delivered += 200
        if r.delivered(200):
            changes.append((delivered, r.state))
    # low when the remaining volume reaches 3 mL, empty when it reaches 0.5 mL: at exactly those volumes
    assert changes == [(1000000, STATE_LOW), (3500000, STATE_EMPTY)]
    assert r.remaining_nl == -200000
    assert r.remaining_ul == 0


def test_thresholds_are_inclusive():
    r = Reservoir(_LOW, _EMPTY)
    r.restore(_LOW + 1)
    assert r.state == STATE_OK
    r.restore(_LOW)
    assert r.state == STATE_LOW
    r.restore(_EMPTY + 1)
    assert r.state == STATE_LOW
    r.restore(_EMPTY)
    assert r.state == STATE_EMPTY


def test_big_step_can_jump_straight_to_empty():
    r = Reservoir(_LOW, _EMPTY)
    r.fill(3000200)
    assert r.delivered(2600000)
    assert r.state == STATE_EMPTY


def test_refill_resets_the_state():
    r = Reservoir(_LOW, _EMPTY)
    r.fill(600000)
    assert r.delivered(200000)
    assert r.state == STATE_EMPTY
    r.fill(20000000)
    assert r.state == STATE_OK
    assert not r.delivered(200)


def test_remaining_ul_rounds_down():
    r = Reservoir(_LOW, _EMPTY)
    r.fill(1999)
    assert r.remaining_ul == 1


def test_days_until():
    r = Reservoir(_LOW, _EMPTY)
    r.fill(20000000)
    assert r.days_until(_LOW, 1000000) == 17  # 17 mL above low at 1 mL/day
    assert r.days_until(_EMPTY, 1000000) == 19
    assert r.days_until(_EMPTY, 0) is None
    assert r.days_until(30000000, 1000000) == 0
    r.restore(_LOW)
    assert r.days_until(_LOW, 1000000) == 0


def test_a_pump_never_filled_shows_no_fill_and_delivering_changes_nothing():
    r = Reservoir(_LOW, _EMPTY)
    assert r.fill_nl == 0
    assert not r.delivered(200)  # already empty: no new crossing to report
    assert r.state == STATE_EMPTY and r.remaining_nl == -200


def test_days_until_at_the_edges():
    r = Reservoir(_LOW, _EMPTY)
    r.restore(_LOW)
    assert r.days_until(_LOW, 0) == 0  # already at the level: today, even with the pump stopped
    r.restore(_LOW + 1)
    assert r.days_until(_LOW, 0) is None  # above it and nothing delivered: never
    assert r.days_until(_LOW, 1) == 1  # 1 nL above at 1 nL/day
    r.restore(_LOW + 5)
    assert r.days_until(_LOW, 1) == 5
