"""The patient's bolus button: presses of a bouncing contact, by time passed in (small ints, no allocation), and the
short beeps that answer a press: a granted bolus and a refused one sound different (docs/safety.md).

A press counts when the input reads pressed DEBOUNCE_MS after an edge with no edge in between; an edge seen in that
time restarts the wait (the app looks when the wait ends: a press counts at most 2 x DEBOUNCE_MS after the contact
settled), so contact bounce and glitches are no press. The next press needs the input released (for as long) first:
a button held down, or stuck, is one request, never a stream of them.
"""

from pump.compat import const, ticks_add, ticks_diff

DEBOUNCE_MS = const(50)
# (tone Hz, on/off durations in ms): granted, one short high beep; refused, two short low ones
BEEP_GRANTED = (1320, (150,))
BEEP_REFUSED = (440, (80, 80, 80))


class Debounce:
    """`edge(now)` for every edge the input reports; at `due`, `settle(now, pressed)` with the level read then:
    True once per press."""

    def __init__(self, debounce_ms=DEBOUNCE_MS):
        self.debounce_ms = debounce_ms
        self.down = False  # the debounced level: pressed
        self.due = None  # ticks at which the level is to be read, None: no edge waiting

    def edge(self, now):
        self.due = ticks_add(now, self.debounce_ms)

    def settle(self, now, pressed):
        """The level read at `now`; True when it completes a new press (pressed after being released)."""
        if self.due is None or ticks_diff(now, self.due) < 0:
            return False
        self.due = None
        if pressed == self.down:
            return False
        self.down = pressed
        return pressed
