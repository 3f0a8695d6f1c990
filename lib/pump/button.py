"""The patient's bolus button: presses of a bouncing contact, by time passed in (small ints, no allocation), and the
app's task that turns a press into the patient bolus and answers it with a short beep: a granted bolus and a refused
one sound different (docs/safety.md).

A press counts when the input reads pressed DEBOUNCE_MS after an edge with no edge in between; an edge seen in that
time restarts the wait (the app looks when the wait ends: a press counts at most 2 x DEBOUNCE_MS after the contact
settled), so contact bounce and glitches are no press. The next press needs the input released (for as long) first:
a button held down, or stuck, is one request, never a stream of them.
"""

from pump.compat import const, ticks_add, ticks_diff
from pump.errors import PumpError

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


class BolusButton:
    """The app's task for the board's button role (`button`: `flag` set by its IRQ on every edge, `edges` counted
    there, `pressed()` the level): a debounced press asks `pump` for the programmed patient bolus under the same policy
    as the BLE command (lockout, daily maximum; the pump logs the grant or the refusal), then `changed()` (BLE status,
    alarms) and a beep on `buzzer` (None: none), after which `done()` hands the buzzer back to the annunciator, which
    leaves it alone while `beeping`. Waits for an edge otherwise (no wake-up owed)."""

    def __init__(self, button, clock, buzzer, pump, changed, done):
        self._button = button
        self._clock = clock
        self._buzzer = buzzer
        self._pump = pump
        self._changed = changed
        self._done = done
        self.beeping = False

    async def run(self):
        button = self._button
        clock = self._clock
        debounce = Debounce()
        while True:
            await button.flag.wait()
            button.flag.clear()
            seen = button.edges
            debounce.edge(clock.ticks_ms())
            while debounce.due is not None:
                await clock.sleep_ms(max(ticks_diff(debounce.due, clock.ticks_ms()), 1))
                now = clock.ticks_ms()
                if button.edges != seen:  # it bounced meanwhile: wait for the level to hold
                    seen = button.edges
                    debounce.edge(now)
                elif debounce.settle(now, button.pressed()):
                    await self.beep(*self.press(now))

    def press(self, now):
        """The patient bolus for a press; returns the beep that answers it."""
        try:
            self._pump.patient_bolus(now)
            beep = BEEP_GRANTED
        except PumpError:
            beep = BEEP_REFUSED
        self._changed()
        return beep

    async def beep(self, freq_hz, durations_ms):
        """A short beep pattern (on, off, on, ... ms) on the buzzer, then the annunciator takes it back."""
        buzzer = self._buzzer
        if buzzer is None:
            return
        self.beeping = True
        try:
            for i in range(len(durations_ms)):
                buzzer.tone(freq_hz) if i % 2 == 0 else buzzer.off()
                await self._clock.sleep_ms(durations_ms[i])
        finally:
            buzzer.off()
            self.beeping = False
            self._done()
