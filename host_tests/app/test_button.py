"""The patient's bolus button: a bouncing press is one press, a glitch is none, a held button one request only, across
the ticks wrap; the board's Button role counts edges in its IRQ and reads pressed as low."""

from board import links
from pump.button import BEEP_GRANTED, BEEP_REFUSED, DEBOUNCE_MS, Debounce
from pump.compat import TICKS_MASK, ticks_add

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def _presses(d, events, start):
    """Drive `d` through (dt_ms, level) edges, reading the level at every due time; the ticks of each press."""
    now = start
    level = False
    presses = []
    for dt, new_level in events + [(1000, None)]:
        end = ticks_add(now, dt)
        while d.due is not None and (d.due - now) & TICKS_MASK <= (end - now) & TICKS_MASK:
            now = d.due
            if d.settle(now, level):
                presses.append(now)
        now = end
        if new_level is not None:
            level = new_level
            d.edge(now)
    return presses


def test_a_bouncing_press_is_one_press_and_a_glitch_is_none_across_the_wrap():
    for start in (0, TICKS_MASK - 120):
        d = Debounce()
        bounce = [(5, True), (2, False), (3, True), (1, False), (4, True)]  # 15 ms of contact bounce
        presses = _presses(d, bounce + [(400, False), (3, True), (2, False)], start)
        assert presses == [ticks_add(start, 15 + DEBOUNCE_MS)]
        assert not d.down  # released, and the 3 ms glitch after it was no press
        assert _presses(d, [(10, True), (20, False)], start) == []  # shorter than the debounce: nothing


def test_a_held_button_is_one_request_until_released():
    d = Debounce()
    noise = [(60000, True)] * 30  # edges picked up while it is held down (a stuck button, interference)
    presses = _presses(d, [(10, True)] + noise + [(1000, False), (100, True)], 0)
    assert presses == [10 + DEBOUNCE_MS, 10 + 30 * 60000 + 1000 + 100 + DEBOUNCE_MS]
    assert d.settle(10**6, True) is False  # nothing is due without an edge


def test_granted_and_refused_beeps_differ_in_tone_and_count():
    assert BEEP_GRANTED[0] != BEEP_REFUSED[0]
    assert (len(BEEP_GRANTED[1]) + 1) // 2 == 1 and (len(BEEP_REFUSED[1]) + 1) // 2 == 2  # tones: on, off, on
    assert sum(BEEP_REFUSED[1]) <= 500 and sum(BEEP_GRANTED[1]) <= 500  # short: never taken for an alarm


def test_the_board_button_counts_edges_sets_its_flag_and_reads_low_as_pressed():
    made = []

    class Pin:
        IN, PULL_UP, IRQ_RISING, IRQ_FALLING = 0, 2, 4, 8
        last = None

        def __init__(self, pin_id, mode, pull):
            made.append((pin_id, mode, pull))
            self.level = 1
            Pin.last = self

        def value(self):
            return self.level

        def irq(self, handler=None, trigger=0):
            made.append(("irq", trigger))
            self.handler = handler

    class Flag:
        sets = 0

        def set(self):
            Flag.sets += 1

    assert links.button_role(Pin, Flag, {"bolus_button": None}) is None
    b = links.button_role(Pin, Flag, {"bolus_button": 9})
    assert made == [(9, 0, 2), ("irq", 12)] and not b.pressed()
    pin = Pin.last
    pin.level = 0
    pin.handler(pin)
    pin.handler(pin)
    assert b.pressed() and b.edges == 2 and Flag.sets == 2
