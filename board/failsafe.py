"""Last resort when the pump cannot start (a malformed config.json, a board that cannot be built, an exception before
the app runs): motor driver off, the high-priority alarm pattern on the buzzer, one console line; on a board it never
returns, so there is no REPL and no silent reset loop. Everything is injected, so CPython tests run the same path.

It relies on as little as possible: the board's default pins (below, checked against each board's DEFAULT_PINS by a
test) when the board object could not be built from its config, `machine` only on a board.
"""

import sys

# board -> (EN pin, buzzer pin) of its DEFAULT_PINS: the configured pins may be what failed to load
PINS = {"pico_w": (4, 15), "esp32_devkit": (23, 25)}
_BOARD_OF = {"rp2": "pico_w", "esp32": "esp32_devkit"}
_REPEAT_MS = 60000  # the message again once a minute, for a console opened later
_TONE_HZ = 880
# IEC 60601-1-8 high priority (pump.alarms.PATTERN): 5 pulses every 10 s; here too should pump.alarms fail to load
_PATTERN = (150, 100, 150, 100, 150, 100, 150, 100, 150, 10000)


def message(exc):
    """The one console line: what stopped the pump, in its own words (a PumpError names the file and key)."""
    detail = str(exc) if exc.__class__.__name__ == "PumpError" else "%s: %s" % (exc.__class__.__name__, exc)
    return "PUMP STOPPED, cannot start: %s. Motor off, alarm sounding; fix the cause, then reset." % detail


class _PwmBuzzer:
    """The buzzer on its pin, made here: the board's own role may not exist."""

    def __init__(self, machine, pin):
        self._pwm = machine.PWM(machine.Pin(pin, machine.Pin.OUT, value=0), freq=_TONE_HZ, duty_u16=0)

    def tone(self, _freq_hz):
        self._pwm.duty_u16(32768)

    def off(self):
        self._pwm.duty_u16(0)


def _pattern():
    try:
        from pump.alarms import PATTERN, PRIO_HIGH, TONE_HZ

        return PATTERN[PRIO_HIGH], TONE_HZ
    except Exception:  # noqa: BLE001 - the firmware's own modules may be what failed
        return _PATTERN, _TONE_HZ


def _on_board():
    if sys.platform not in _BOARD_OF:
        return None
    try:
        import machine

        return machine
    except ImportError:
        return None


def fail_safe(exc, name=None, hw=None, machine=None, out=print, sleep_ms=None, periods=None):
    """Stop safely after `exc` on board `name` (default: by sys.platform); `hw` is the hardware object if it was
    built. Motor off (the built stepper, and the EN pin itself), the message, then the high-priority pattern on the
    buzzer (the built one, else one on the default buzzer pin): forever on a board, `periods` patterns when given
    (tests). Off a board (CPython, the unix port: no `machine`) it returns after the message. Never raises but
    KeyboardInterrupt (someone at the console: they get the REPL they asked for, the driver stays off)."""
    if machine is None:
        machine = _on_board()
    if name is None:
        name = _BOARD_OF.get(sys.platform, "")
    pins = PINS.get(name)
    stepper = getattr(hw, "stepper", None)
    if stepper is not None:
        try:
            stepper.disable()
        except Exception:  # noqa: BLE001 - the pin below is the driver's enable all the same
            pass
    if machine is not None and pins is not None:
        try:
            machine.Pin(pins[0], machine.Pin.OUT, value=1)  # EN high: driver off, as boot.py left it
        except Exception:  # noqa: BLE001
            pass
    text = message(exc)
    try:
        out(text)
    except Exception:  # noqa: BLE001
        pass
    buzzer = getattr(hw, "buzzer", None)
    if buzzer is None and machine is not None and pins is not None:
        try:
            buzzer = _PwmBuzzer(machine, pins[1])
        except Exception:  # noqa: BLE001 - no buzzer: the console line, repeated, is all there is
            buzzer = None
    if machine is None and periods is None:
        return  # off a board: the message was all
    if sleep_ms is None:
        import time

        sleep_ms = time.sleep_ms  # pyright: ignore[reportAttributeAccessIssue]
    _sound(buzzer, sleep_ms, out, text, periods)


def _sound(buzzer, sleep_ms, out, text, periods):
    pattern, tone_hz = _pattern()
    period = pattern[-1]
    since_ms = 0
    n = 0
    try:
        while periods is None or n < periods:
            elapsed = 0
            for i in range(len(pattern) - 1):
                if buzzer is not None:
                    try:
                        buzzer.tone(tone_hz) if i % 2 == 0 else buzzer.off()
                    except Exception:  # noqa: BLE001 - keep timing the pattern: the console line still repeats
                        pass
                sleep_ms(pattern[i])
                elapsed += pattern[i]
            _off(buzzer)
            sleep_ms(period - elapsed)
            n += 1
            since_ms += period
            if since_ms >= _REPEAT_MS:
                since_ms = 0
                try:
                    out(text)
                except Exception:  # noqa: BLE001
                    pass
    finally:
        _off(buzzer)


def _off(buzzer):
    if buzzer is not None:
        try:
            buzzer.off()
        except Exception:  # noqa: BLE001
            pass
